package packages

import (
	"fmt"
	"os"
	"strings"

	"github.com/builder-images/builder/builder/confined"
)

// sourcesFile renders a repository as a deb822 .sources file, with its
// key referenced by Signed-By.
func sourcesFile(r *Repository, keyPath string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by builder from the recipe's repository %q.\n", r.Name)
	fmt.Fprintf(&b, "Types: %s\n", strings.Join(r.Types, " "))
	fmt.Fprintf(&b, "URIs: %s\n", r.URL)
	fmt.Fprintf(&b, "Suites: %s\n", strings.Join(r.Suites, " "))
	if len(r.Components) > 0 {
		fmt.Fprintf(&b, "Components: %s\n", strings.Join(r.Components, " "))
	}
	if len(r.Architectures) > 0 {
		fmt.Fprintf(&b, "Architectures: %s\n", strings.Join(r.Architectures, " "))
	}
	if keyPath != "" {
		fmt.Fprintf(&b, "Signed-By: %s\n", keyPath)
	}
	return b.String()
}

// WriteRepository writes the repository's key and its deb822 sources
// file, both through the rootfs-confined file writer.
func WriteRepository(dir string, r *Repository) error {
	keyPath := ""
	key := []byte(r.Key)
	if r.KeyFile != "" {
		var err error
		if key, err = os.ReadFile(r.KeyFile); err != nil {
			return fmt.Errorf("reading the key of repository %s: %w", r.Name, err)
		}
	}
	if len(key) > 0 {
		// apt tells armored keys from binary ones by the extension.
		ext := ".gpg"
		if strings.Contains(string(key), "-----BEGIN PGP PUBLIC KEY BLOCK-----") {
			ext = ".asc"
		}
		keyPath = "/etc/apt/keyrings/" + r.Name + ext
		if err := confined.WriteFile(dir, confined.File{Path: keyPath, Content: string(key), Ownership: rootOwned(0o644)}); err != nil {
			return err
		}
	}
	return confined.WriteFile(dir, confined.File{
		Path:      "/etc/apt/sources.list.d/" + r.Name + ".sources",
		Content:   sourcesFile(r, keyPath),
		Ownership: rootOwned(0o644),
	})
}

func rootOwned(mode uint32) confined.Ownership {
	return confined.Ownership{Mode: mode, Owner: "0", Group: "0"}
}
