package main

import (
	"fmt"
	"strings"

	"github.com/builder-images/builder/builder/recipe"
)

// stepSummary is the one-line description inspect's text output gives,
// made from the already masked action so text and JSON mask alike.
func stepSummary(kind string, action map[string]any) string {
	var parts []string
	add := func(format string, keys ...string) {
		for _, k := range keys {
			if v := actionText(action[k]); v != "" {
				parts = append(parts, fmt.Sprintf(format, k, v))
			}
		}
	}
	switch kind {
	case "bootstrap":
		add("%s=%s", "suite", "variant", "mirror", "source", "sha256", "binary", "include", "exclude")
	case "repository":
		add("%[2]s", "url", "suites", "components")
	case "packages":
		for _, flag := range []string{"update", "upgrade", "cleanup"} {
			if action[flag] == true {
				parts = append(parts, flag)
			}
		}
		add("%s %s", "install", "remove")
		return actionText(action["manager"]) + ": " + strings.Join(parts, ", ")
	case "file":
		add("%[2]s", "ownership")
		if src := actionText(action["source"]); src != "" {
			parts = append(parts, "from "+src)
		} else if content, ok := action["content"].(string); ok && content == recipe.SensitiveText {
			parts = append(parts, "content "+content)
		} else {
			parts = append(parts, fmt.Sprintf("%d bytes", len(content)))
		}
	case "copy":
		add("from %[2]s", "source")
		add("%[2]s", "ownership")
	case "remove":
		if action["missing_ok"] == true {
			parts = append(parts, "missing_ok")
		}
	case "run":
		script := actionText(action["script"])
		if script == recipe.SensitiveText {
			parts = append(parts, "script "+script)
		} else {
			parts = append(parts, fmt.Sprintf("%d lines", strings.Count(strings.TrimRight(script, "\n"), "\n")+1))
		}
		add("%s=%s", "timeout")
		// Shown whatever else is: a step that can reach the host.
		add("%s=%s (dangerous)", "capabilities")
	}
	return strings.Join(parts, " ")
}

// actionText renders one JSON value of a masked action for a summary.
func actionText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		items := make([]string, len(v))
		for i, e := range v {
			items[i] = actionText(e)
		}
		return strings.Join(items, ",")
	case map[string]any: // ownership
		owner := actionText(v["owner"]) + ":" + actionText(v["group"])
		if mode := actionText(v["mode"]); mode != "" {
			return mode + " " + owner
		}
		return owner
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}
