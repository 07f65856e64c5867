package recipe

import (
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// blockAttributes is the schema of every block with a fixed set of
// attributes: decoders, `--help`-style listings and the README test all
// read it. A trailing "!" marks a required attribute. Step blocks start
// with "enabled".
var blockAttributes = map[string][]string{
	"variable":   {"type", "default", "description", "sensitive"},
	"image":      {"name", "distribution!", "release!", "architecture", "variant", "description", "expiry", "serial", "properties"},
	"output":     {"type", "compression", "rootfs"},
	"repository": {"enabled", "url!", "types", "suites", "components", "architectures", "key", "key_file"},
	"packages":   {"enabled", "manager", "update", "upgrade", "install", "remove", "cleanup"},
	"file":       {"enabled", "content", "source", "mode", "owner", "group"},
	"copy":       {"enabled", "source!", "mode", "owner", "group"},
	"remove":     {"enabled", "missing_ok"},
	"run":        {"enabled", "stage", "script", "source", "environment", "timeout"},
	"template":   {"enabled", "source", "content", "name", "when", "create_only", "properties", "uid", "gid", "mode"},
}

// Attributes returns the attribute names a block type takes, without the
// required marks; for bootstrap, the union over its backends. locals and
// environment take any names and return nil.
func Attributes(blockType string) []string {
	var names []string
	add := func(list []string) {
		for _, n := range list {
			n = strings.TrimSuffix(n, "!")
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	if blockType == "bootstrap" {
		add([]string{"enabled"})
		for _, b := range BootstrapBackends() {
			add(bootstrapBackends[b].attrs)
		}
		return names
	}
	add(blockAttributes[blockType])
	return names
}

// BackendAttributes returns the attributes of one bootstrap backend.
func BackendAttributes(backend string) []string {
	spec, ok := bootstrapBackends[backend]
	if !ok {
		return nil
	}
	names := []string{"enabled"}
	for _, n := range spec.attrs {
		names = append(names, strings.TrimSuffix(n, "!"))
	}
	return names
}

func attributeSchemas(names []string) []hcl.AttributeSchema {
	out := make([]hcl.AttributeSchema, len(names))
	for i, n := range names {
		out[i] = hcl.AttributeSchema{Name: strings.TrimSuffix(n, "!"), Required: strings.HasSuffix(n, "!")}
	}
	return out
}
