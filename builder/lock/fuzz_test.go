package lock

import (
	"strings"
	"testing"
)

// FuzzParse: a hand-edited or hostile lock file is an error, never a
// panic, and whatever parses encodes to a file that parses the same.
func FuzzParse(f *testing.F) {
	f.Add(Encode(sample()))
	f.Add([]byte("build {\n  architecture = \"amd64\"\n  instance_type = \"container\"\n  package \"a\" {\n    version = \"${1+1}\"\n    architecture = [for x in [1]: x]\n  }\n}\n"))
	f.Add([]byte("build {\n  architecture = upper(\"x\")\n  instance_type = a.b[0]\n  mirror = null\n}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := Parse(src, "f.lock.hcl")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.lock.hcl:") {
				t.Errorf("error without a position: %v", err)
			}
			return
		}
		if _, err := Parse(Encode(file), "g.lock.hcl"); err != nil {
			t.Errorf("what parsed does not parse once encoded: %v\n%s", err, Encode(file))
		}
	})
}
