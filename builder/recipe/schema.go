package recipe

import (
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/builder-images/builder/builder/bootstrap"
)

// blockSchema describes one top-level block type.
type blockSchema struct {
	labels   []string
	optLabel bool // the last label may be left out
	single   bool // at most one such block
	// attrs lists the attributes, a trailing "!" marking required ones.
	// Step blocks start with "enabled". locals and environment take any
	// names, and bootstrap's depend on the backend (bootstrap.Backend).
	attrs []string
}

// blockSchemas is the one schema of the recipe language: the decoders,
// BlockTypes, Attributes and the README test all read it.
var blockSchemas = map[string]blockSchema{
	"variable":    {labels: []string{"name"}, attrs: []string{"type", "default", "description", "sensitive"}},
	"locals":      {},
	"image":       {single: true, attrs: []string{"name", "distribution!", "release!", "architecture", "variant", "description", "expiry", "serial", "aliases", "properties"}},
	"bootstrap":   {labels: []string{"backend"}},
	"repository":  {labels: []string{"name"}, attrs: []string{"enabled", "url!", "types", "suites", "components", "architectures", "key", "key_file"}},
	"packages":    {labels: []string{"name"}, optLabel: true, attrs: []string{"enabled", "manager", "update", "upgrade", "install", "remove", "cleanup"}},
	"file":        {labels: []string{"path"}, attrs: []string{"enabled", "content", "source", "mode", "owner", "group"}},
	"copy":        {labels: []string{"path"}, attrs: []string{"enabled", "source!", "mode", "owner", "group"}},
	"remove":      {labels: []string{"path"}, attrs: []string{"enabled", "missing_ok"}},
	"template":    {labels: []string{"path"}, attrs: []string{"enabled", "source", "content", "name", "when", "create_only", "properties", "uid", "gid", "mode"}},
	"run":         {labels: []string{"name"}, attrs: []string{"enabled", "stage", "script", "source", "environment", "timeout", "capabilities"}},
	"environment": {},
	"test":        {labels: []string{"name"}, attrs: []string{"enabled", "script!", "on", "timeout"}},
	"output":      {labels: []string{"name"}, optLabel: true, attrs: []string{"type", "compression", "rootfs", "size", "filesystem", "secure_boot", "format", "unified"}},
	"limits":      {single: true, attrs: []string{"tmp_size", "run_size", "shm_size", "tarball_size"}},
	"matrix":      {single: true},
}

// attrName splits a schema entry into the attribute name and whether it
// is required.
func attrName(entry string) (name string, required bool) {
	name, required = strings.CutSuffix(entry, "!")
	return name, required
}

// Attributes returns the attribute names a block type takes, without the
// required marks; for bootstrap, the union over its backends. locals,
// environment and matrix take any names and return nil.
func Attributes(blockType string) []string {
	var names []string
	add := func(list []string) {
		for _, entry := range list {
			n, _ := attrName(entry)
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	if blockType == "bootstrap" {
		add([]string{"enabled"})
		for _, name := range bootstrap.Names() {
			kind, _ := bootstrap.Lookup(name)
			add(kind.Attributes())
		}
		return names
	}
	add(blockSchemas[blockType].attrs)
	return names
}

// BackendAttributes returns the attributes of one bootstrap backend.
func BackendAttributes(backend string) []string {
	kind, err := bootstrap.Lookup(backend)
	if err != nil {
		return nil
	}
	names := []string{"enabled"}
	for _, entry := range kind.Attributes() {
		n, _ := attrName(entry)
		names = append(names, n)
	}
	return names
}

func attributeSchemas(names []string) []hcl.AttributeSchema {
	out := make([]hcl.AttributeSchema, len(names))
	for i, entry := range names {
		n, required := attrName(entry)
		out[i] = hcl.AttributeSchema{Name: n, Required: required}
	}
	return out
}
