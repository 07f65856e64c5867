package bootstrap

import "github.com/builder-images/builder/builder/image"

// TestDebootstrapCommandForUbuntu is in package bootstrap_test: it loads
// a shipped recipe, and package recipe imports this one. These give it
// the debootstrap backend's internals.

// Debootstrap is the backend that runs tool (debootstrap or mmdebstrap).
func Debootstrap(tool string) DebootstrapForTest {
	return DebootstrapForTest{debootstrapBackend{tool: tool}}
}

type DebootstrapForTest struct{ d debootstrapBackend }

func (t DebootstrapForTest) Script(env Env, b *Config) (SuiteScript, error) {
	return t.d.script(env, b)
}
func (t DebootstrapForTest) ViewPaths(b *Config, keyring string) []string {
	return t.d.viewPaths(b, keyring)
}

var FakeScripts = fakeScripts

func (t DebootstrapForTest) Argv(arch image.Architecture, b *Config, keyring string, script SuiteScript, dir string) ([]string, error) {
	return t.d.argv(arch, b, keyring, script, dir)
}
