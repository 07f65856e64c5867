// Package step defines what every step kind of a recipe is to the rest of
// builder: an Action that names its kind, lists its resolved fields (which
// inspect prints and the cache key hashes), names the host files whose
// contents it reads and the host tools it runs, describes itself in one
// line, and runs against a Runtime that the rootfs stage provides.
//
// The kinds live with the code they drive (builder/steps for file, copy,
// remove and run; builder/bootstrap; builder/packages); consumers ask this
// interface and never switch on a kind's type. Start with Action below,
// then Field in field.go and Mask in mask.go.
package step

import (
	"context"
	"time"
)

// Action is what one step block of a recipe does.
type Action interface {
	// Kind is the block type: "file", "run", "bootstrap", …
	Kind() string
	// Fields are the resolved attributes, in a fixed order, each named
	// as inspect --json prints it; attributes the recipe left unset
	// and that have no value of their own are left out.
	Fields() Fields
	// HostInputs are host paths whose contents the step reads: the
	// cache key hashes what they hold, not only their names.
	HostInputs() []string
	// Tools are the host programs (looked up on PATH) and files
	// (absolute paths) the step runs, for doctor.
	Tools() []string
	// Summary describes the action in one line for inspect, made from
	// its fields as masked for printing (see Mask), so that the text
	// view hides what the JSON view hides.
	Summary(masked Fields) string
	// Run carries the step out in the image that rt gives.
	Run(ctx context.Context, rt Runtime) error
}

// Runtime is what a running step may use of the build: the rootfs stage
// implements it. Paths in the image are absolute ("/etc/hosts") and are
// resolved inside the image, never on the host.
type Runtime interface {
	// ImageDir is the image's root directory on the host, for the
	// confined file operations (builder/confined).
	ImageDir() string
	// Exec runs a command in the image's sandbox, with the build's
	// environment and c.Env over it.
	Exec(ctx context.Context, c Command) error
	// WriteScript puts a script into the image's /tmp and returns the
	// command line that runs it.
	WriteScript(name, script string) (argv []string, err error)
	// Warn writes a line under label into the step's output, for what
	// the user must notice.
	Warn(label, line string)
	// ShareDownloads binds the builds' shared package-download
	// directory over dir in the image, one build at a time, and
	// returns how to undo it; shared is false (and undo nil) when the
	// build has no cache.
	ShareDownloads(ctx context.Context, dir string) (undo func() error, shared bool, err error)
}

// Command is one command a step runs in the image.
type Command struct {
	// Label prefixes each output line: "[label] …".
	Label string
	// Name is what errors call the command; Argv[0] when empty.
	Name string
	Argv []string
	// Env holds NAME=VALUE pairs over the build's environment.
	Env []string
	// Capabilities are kept beyond the sandbox's own set, canonical
	// names (SYS_ADMIN): a recipe's explicit, dangerous choice.
	Capabilities []string
	// Timeout 0 means no limit beyond the build's own.
	Timeout time.Duration
}
