package packages

import (
	"testing"
)

func TestSourcesFile(t *testing.T) {
	got := sourcesFile(&Repository{
		Name: "extra", Types: []string{"deb", "deb-src"}, URL: "https://apt.example.org/debian",
		Suites: []string{"bookworm", "bookworm-updates"}, Components: []string{"main"}, Architectures: []string{"amd64"},
	}, "/etc/apt/keyrings/extra.asc")
	want := `# Written by builder from the recipe's repository "extra".
Types: deb deb-src
URIs: https://apt.example.org/debian
Suites: bookworm bookworm-updates
Components: main
Architectures: amd64
Signed-By: /etc/apt/keyrings/extra.asc
`
	if got != want {
		t.Errorf("sources file:\n%s\nwant:\n%s", got, want)
	}
}
