# Recursive macros, in a template file and inline: each would overflow the
# renderer's stack, in LXD's daemon and in builder's own test render.
# want: 18:13: Unbounded template: macro f calls itself through g (f → g → f): it would recurse until the renderer's stack overflows, which crashes LXD; builder refuses recursive macros. (line 1, column 57 of the template)
# want: ../files/recursive_macro.tpl:2:46: Unbounded template: macro countdown calls itself (countdown → countdown)

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

template "/etc/motd" {
  source = "../files/recursive_macro.tpl"
}

template "/etc/issue" {
  content = "{% macro f() %}{{ g() }}{% endmacro %}{% macro g() %}{{ f() }}{% endmacro %}{{ f() }}\n"
}
