package lock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/packages"
	"github.com/builder-images/builder/builder/recipe"
)

// The archive check of build --locked, before anything is built: the
// host's apt-get, with a private state directory and nothing of the
// host's sources or trusted keys, fetches the package indices of the
// recipe's archive (the bootstrap's mirror, suite and components, and
// each repository block) and verifies their InRelease files with the
// keyrings the build would use; then every locked version must be in
// an index.

// Source is one apt source the check reads.
type Source struct {
	URL        string
	Suites     []string
	Components []string
	// Keyring is the host file the source's InRelease is verified with.
	Keyring string
	// Snapshot: the Release files are past their Valid-Until.
	Snapshot bool
}

// Line is the source as a sources.list line.
func (s Source) Line() string {
	opts := "signed-by=" + s.Keyring
	if s.Snapshot {
		opts += " check-valid-until=no"
	}
	var lines []string
	for _, suite := range s.Suites {
		lines = append(lines, fmt.Sprintf("deb [%s] %s %s %s", opts, s.URL, suite, strings.Join(s.Components, " ")))
	}
	return strings.Join(lines, "\n")
}

// SourcesOf are the apt sources a plan's build installs from: its
// bootstrap block's archive (the block's mirror, else the one the lock
// recorded from the stage) and its repository blocks. workDir holds the
// keyrings builder writes (a pinned one, a repository's inline key).
// Sources a run step adds are not known before the build: packages from
// them are reported missing.
func SourcesOf(ctx context.Context, plan *recipe.Plan, locked *Block, workDir string) ([]Source, error) {
	var sources []Source
	var archiveKeyring string
	for _, s := range plan.EnabledSteps() {
		switch a := s.Action.(type) {
		case *bootstrap.Config:
			if a.Backend != "debootstrap" && a.Backend != "mmdebstrap" {
				continue
			}
			mirror := a.ArchiveMirror()
			if mirror == "" {
				mirror = locked.Mirror
			}
			if mirror == "" {
				return nil, fmt.Errorf("the recipe's bootstrap names no mirror and the lock records none: run builder lock again")
			}
			keyring, err := bootstrap.ArchiveKeyring(ctx, workDir, a, plan.Image.Distribution)
			if err != nil {
				return nil, err
			}
			if keyring == "" {
				return nil, fmt.Errorf("builder does not know which keyring %s checks %s with: set the bootstrap block's keyring", a.Backend, mirror)
			}
			archiveKeyring = keyring
			sources = append(sources, Source{URL: mirror, Suites: []string{a.Suite}, Components: a.ArchiveComponents(), Keyring: keyring, Snapshot: a.Snapshot != ""})
			if a.ArchiveMirror() == "" {
				// The tool's own choice: the other suites it added.
				for _, s := range locked.Suites {
					sources = append(sources, Source{URL: s.URL, Suites: []string{s.Suite}, Components: s.Components, Keyring: keyring})
				}
			}
		case *packages.Repository:
			if !containsDeb(a.Types) {
				continue
			}
			keyring := a.KeyFile
			if a.Key != "" {
				keyring = filepath.Join(workDir, "repository-"+a.Name+keyExt(a.Key))
				if err := os.WriteFile(keyring, []byte(a.Key), 0o644); err != nil {
					return nil, fmt.Errorf("the key of repository %s: %w", a.Name, err)
				}
			}
			if keyring == "" {
				// Without a key of its own, the image's apt checks it
				// with the distribution's keys, which are the archive's.
				keyring = archiveKeyring
			}
			if keyring == "" {
				return nil, fmt.Errorf("repository %s has no key, and the bootstrap none builder knows of", a.Name)
			}
			sources = append(sources, Source{URL: a.URL, Suites: a.Suites, Components: a.Components, Keyring: keyring})
		}
	}
	return sources, nil
}

func containsDeb(types []string) bool {
	for _, t := range types {
		if t == "deb" {
			return true
		}
	}
	return len(types) == 0
}

// keyExt: apt tells armored keys from binary ones by the extension.
func keyExt(key string) string {
	if strings.Contains(key, "-----BEGIN PGP PUBLIC KEY BLOCK-----") {
		return ".asc"
	}
	return ".gpg"
}

// AptArgs are apt-get's options for a private state in dir: none of the
// host's sources, keys or lists, only the indices of the native
// architecture and the foreign ones (a multiarch image's), no
// translations, and indices kept uncompressed so that they can be read.
func AptArgs(dir, native string, foreign ...string) []string {
	return []string{
		"-q",
		"-o", "Dir=" + dir,
		"-o", "Dir::State::status=" + filepath.Join(dir, "var/lib/dpkg/status"),
		"-o", "Dir::Etc::SourceParts=" + filepath.Join(dir, "etc/apt/sources.list.d"),
		"-o", "Dir::Etc::TrustedParts=" + filepath.Join(dir, "etc/apt/trusted.gpg.d"),
		"-o", "Dir::Etc::Trusted=" + filepath.Join(dir, "etc/apt/trusted.gpg"),
		"-o", "APT::Architecture=" + native,
		// apt splits a list option's value at commas.
		"-o", "APT::Architectures=" + strings.Join(append([]string{native}, foreign...), ","),
		"-o", "Acquire::Languages=none",
		"-o", "Acquire::GzipIndexes=false",
		"-o", "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false",
		// The directory is root's 0700: apt's _apt user could not
		// write its downloads there.
		"-o", "APT::Sandbox::User=root",
		"-o", "Debug::NoLocking=true",
	}
}

// Available fetches the sources' indices for archs (the native
// architecture first, as Block.Architectures gives them) with the host's
// apt-get in a private state under workDir, and returns every package
// version they offer, as "name version arch".
func Available(ctx context.Context, sources []Source, archs []string, workDir string) (map[string]bool, error) {
	if len(archs) == 0 {
		return nil, errors.New("checking the archive: no architecture")
	}
	dir, err := os.MkdirTemp(workDir, ".builder-archive-")
	if err != nil {
		return nil, fmt.Errorf("checking the archive: %w", err)
	}
	defer os.RemoveAll(dir)
	lines, err := writeState(dir, sources)
	if err != nil {
		return nil, fmt.Errorf("checking the archive: %w", err)
	}
	argv := append(AptArgs(dir, archs[0], archs[1:]...), "update")
	cmd := exec.CommandContext(ctx, "apt-get", argv...)
	// fetchFailed reads apt's messages in English.
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err == nil && fetchFailed(string(out)) {
		// apt-get update exits 0 when a source failed to download or
		// verify (a warning): the check must not pass on less.
		err = errors.New("a source failed")
	}
	if err != nil {
		return nil, fmt.Errorf("checking the archive (apt-get update):\n%s\n%s: %w", strings.Join(lines, "\n"), strings.TrimSpace(string(out)), err)
	}
	lists, err := filepath.Glob(filepath.Join(dir, "var/lib/apt/lists", "*_Packages"))
	if err != nil || len(lists) == 0 {
		return nil, fmt.Errorf("checking the archive: apt-get update fetched no package index from:\n%s", strings.Join(lines, "\n"))
	}
	avail := map[string]bool{}
	for _, path := range lists {
		if err := readIndex(path, avail); err != nil {
			return nil, err
		}
	}
	return avail, nil
}

// writeState makes dir apt's private state for AptArgs, with the
// sources in its sources.list, and returns their lines.
func writeState(dir string, sources []Source) ([]string, error) {
	for _, d := range []string{"etc/apt/sources.list.d", "etc/apt/trusted.gpg.d", "etc/apt/preferences.d", "var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "var/lib/dpkg"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	var lines []string
	for _, s := range sources {
		lines = append(lines, s.Line())
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/apt/sources.list"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	return lines, os.WriteFile(filepath.Join(dir, "var/lib/dpkg/status"), nil, 0o644)
}

// fetchFailed reports whether apt-get update's output warns of a source
// it could not fetch or verify.
func fetchFailed(out string) bool {
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "W: ") && !strings.HasPrefix(line, "E: ") {
			continue
		}
		for _, what := range []string{"Failed to fetch", "GPG error", "NO_PUBKEY", "not signed", "is not valid yet", "has expired", "Some index files failed"} {
			if strings.Contains(line, what) {
				return true
			}
		}
	}
	return false
}

func readIndex(path string, avail map[string]bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading the package index: %w", err)
	}
	defer f.Close()
	if err := ParseIndex(f, avail); err != nil {
		return fmt.Errorf("reading the package index %s: %w", filepath.Base(path), err)
	}
	return nil
}

// ParseIndex adds each paragraph of a Packages index to avail, as
// "name version arch".
func ParseIndex(r io.Reader, avail map[string]bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
	var name, version, arch string
	flush := func() {
		if name != "" && version != "" && arch != "" {
			avail[name+" "+version+" "+arch] = true
		}
		name, version, arch = "", "", ""
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, "Package:"):
			name = strings.TrimSpace(line[len("Package:"):])
		case strings.HasPrefix(line, "Version:"):
			version = strings.TrimSpace(line[len("Version:"):])
		case strings.HasPrefix(line, "Architecture:"):
			arch = strings.TrimSpace(line[len("Architecture:"):])
		}
	}
	flush()
	return sc.Err()
}

// Missing are the locked packages no index offers.
func Missing(avail map[string]bool, locked []Package) []Package {
	var missing []Package
	for _, p := range locked {
		if !avail[p.Name+" "+p.Version+" "+p.Architecture] {
			missing = append(missing, p)
		}
	}
	return missing
}

// MissingError lists the locked versions the archive no longer has.
type MissingError struct {
	Key     Key
	Missing []Package
}

func (e *MissingError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the archive no longer has %d locked package version(s) of %s:", len(e.Missing), e.Key)
	for _, p := range e.Missing {
		b.WriteString("\n  " + p.String())
	}
	b.WriteString("\n(run builder lock again for the archive's current versions, or point the bootstrap at a snapshot of the archive)")
	return b.String()
}
