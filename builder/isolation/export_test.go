package isolation

// The sandbox benchmark is in package isolation_test: it builds its
// image with a bootstrap backend, and package bootstrap imports this one.
// These give it the sandbox's internals.

type SandboxSpec = sandboxSpec

var (
	SandboxCommand = sandboxCommand
	BaseEnv        = baseEnv
)
