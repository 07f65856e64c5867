package bootstrap

import (
	"context"
	"fmt"

	"github.com/builder-images/builder/builder/confined"
)

// directoryBackend copies a host directory, as it is, into the image.
type directoryBackend struct{}

func (directoryBackend) Name() string         { return "directory" }
func (directoryBackend) Attributes() []string { return []string{"source!"} }
func (directoryBackend) Variants() []string   { return nil }
func (directoryBackend) Tools() []Tool        { return nil }

// HostInputs is the copied tree.
func (directoryBackend) HostInputs(cfg *Config) []string { return localPath(cfg.Source) }

func (directoryBackend) Bootstrap(ctx context.Context, _ Env, b *Config, dir string) error {
	if err := confined.CopyTree(ctx, b.Source, dir); err != nil {
		return fmt.Errorf("copying %s: %w", b.Source, err)
	}
	return nil
}
