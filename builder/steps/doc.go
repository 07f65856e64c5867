// Package steps holds the step kinds that change files of the image and
// run its programs: file, copy, remove and run, one file each. Each kind
// is the config type the recipe decodes its block into and implements
// step.Action: its fields, the host files it reads, its one-line summary
// and how it runs.
package steps
