package image_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/image"
)

// TestImageJSONTests writes image.json with tests: they read back
// equal, in order, under "tests" with the documented keys; bad tests
// are refused naming the test.
func TestImageJSONTests(t *testing.T) {
	dir, files, fp := outputDir(t)
	j := image.ImageJSON{
		Name: "busybox", Fingerprint: fp, Type: image.TypeSplit, Architecture: "x86_64",
		Properties: map[string]string{}, Files: files, Packages: []image.Package{},
		Tests: []image.Test{
			{Name: "motd", Script: "#!/bin/sh\ngrep -q busybox /etc/motd\n", On: []string{"container", "vm"}, Timeout: 300, File: "recipes/busybox.hcl", Line: 40},
			{Name: "vm-only", Script: "true", On: []string{"vm"}, Timeout: 5, File: "recipes/busybox.hcl", Line: 50},
		},
	}
	if err := image.WriteImageJSON(dir, j); err != nil {
		t.Fatal(err)
	}
	text := readFile(t, dir+"/image.json")
	for _, key := range []string{`"tests": [`, `"name": "motd"`, `"script": "#!/bin/sh\ngrep -q busybox /etc/motd\n"`, `"on": [`, `"timeout": 300`, `"file": "recipes/busybox.hcl"`, `"line": 40`} {
		if !strings.Contains(text, key) {
			t.Errorf("image.json lacks %s:\n%s", key, text)
		}
	}
	back, err := image.ReadImageJSON(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Tests, j.Tests) {
		t.Errorf("tests read back as %+v, want %+v", back.Tests, j.Tests)
	}
	if !back.Tests[0].RunsOn(image.InstanceContainer) || !back.Tests[0].RunsOn(image.InstanceVM) {
		t.Error("a test on container and vm does not run on both")
	}
	if back.Tests[1].RunsOn(image.InstanceContainer) || !back.Tests[1].RunsOn(image.InstanceVM) {
		t.Error("a vm test runs on containers or not on VMs")
	}

	// An image without tests has no "tests" key: image.json of images
	// built before tests existed stays byte for byte the same.
	j.Tests = nil
	data, err := j.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), `"tests"`) {
		t.Errorf("image.json without tests has a tests key:\n%s", data)
	}

	bad := []struct {
		name string
		test image.Test
		want string
	}{
		{"no name", image.Test{Script: "true", On: []string{"vm"}, Timeout: 1}, "test 1 has no name"},
		{"twice", image.Test{Name: "motd", Script: "true", On: []string{"vm"}, Timeout: 1}, `test "motd" is listed twice`},
		{"no script", image.Test{Name: "x", On: []string{"vm"}, Timeout: 1}, `test "x" has no script`},
		{"nowhere", image.Test{Name: "x", Script: "true", Timeout: 1}, "on is empty"},
		{"unknown on", image.Test{Name: "x", Script: "true", On: []string{"virtual-machine"}, Timeout: 1}, `on "virtual-machine"`},
		{"no timeout", image.Test{Name: "x", Script: "true", On: []string{"vm"}}, "timeout 0"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			j.Tests = []image.Test{{Name: "motd", Script: "true", On: []string{"container"}, Timeout: 1}, tt.test}
			_, err := j.Marshal()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
