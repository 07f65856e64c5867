# A recipe without an image block.
# want: 1:1: Missing image block: A recipe needs an image block

bootstrap "busybox" {}
