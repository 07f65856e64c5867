package lxd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/builder-images/builder/builder/image"
)

// ImportOptions says what to deliver and how.
type ImportOptions struct {
	// Dir is the output directory; Image its image.json.
	Dir   string
	Image image.ImageJSON
	// Aliases are created, or moved to this image when they name another.
	Aliases []string
	// Replace deletes the images the aliases were moved away from, when no
	// other alias still names them.
	Replace bool
	Public  bool
	// Progress reports upload bytes; nil means none.
	Progress func(sent, total int64)
}

// AliasChange is what happened to one alias.
type AliasChange struct {
	Name string `json:"name"`
	// Action is "created", "moved" or "unchanged".
	Action string `json:"action"`
	// Previous is the image a moved alias named before.
	Previous string `json:"previous,omitempty"`
}

// ImportResult is what Import did.
type ImportResult struct {
	Fingerprint string `json:"fingerprint"`
	// Where is the daemon: its socket path or URL.
	Where string `json:"daemon"`
	// Uploaded is false when the daemon already held the image.
	Uploaded bool          `json:"uploaded"`
	Aliases  []AliasChange `json:"aliases"`
	// Deleted are the images --replace removed.
	Deleted []string `json:"deleted,omitempty"`
	// Kept are images aliases moved away from that were not deleted,
	// because Replace was off or another alias still names them.
	Kept []string `json:"kept,omitempty"`
}

// Import puts an output directory's image into the daemon: it uploads the
// image unless the daemon already holds one with the same fingerprint,
// checks the fingerprint the daemon computed against image.json, then
// creates or moves the aliases. It is idempotent: importing the same
// directory twice changes nothing the second time.
func Import(ctx context.Context, c *Client, opts ImportOptions) (ImportResult, error) {
	j := opts.Image
	res := ImportResult{Fingerprint: j.Fingerprint, Where: c.Where}
	for _, a := range opts.Aliases {
		if err := image.CheckAlias(a); err != nil {
			return res, fmt.Errorf("alias %q %w", a, err)
		}
	}

	if err := checkAliasTypes(ctx, c, j, opts.Aliases); err != nil {
		return res, err
	}
	existing, err := c.Image(ctx, j.Fingerprint)
	switch {
	case err == nil:
		if opts.Public && !existing.Public {
			if err := c.SetPublic(ctx, j.Fingerprint, true); err != nil {
				return res, fmt.Errorf("making image %s public: %w", image.Short(j.Fingerprint), err)
			}
		}
	case IsNotFound(err):
		stored, err := upload(ctx, c, opts)
		res.Uploaded = stored
		if err != nil {
			return res, err
		}
	default:
		return res, fmt.Errorf("looking for image %s on %s: %w", image.Short(j.Fingerprint), c.Where, err)
	}

	moved, err := setAliases(ctx, c, j.Fingerprint, opts.Aliases, &res)
	if err != nil {
		return res, err
	}
	return res, releaseImages(ctx, c, moved, opts.Replace, &res)
}

// checkAliasTypes refuses, before anything is sent, an alias that names
// an image of the other instance type: the daemons keep one image per
// alias name whatever its type, so moving it would take a container's
// name away for a VM's image (and Replace would then delete the
// container image). A recipe building both names them apart.
func checkAliasTypes(ctx context.Context, c *Client, j image.ImageJSON, names []string) error {
	want := j.InstanceType()
	for _, name := range names {
		current, err := c.Alias(ctx, name)
		switch {
		case IsNotFound(err):
			continue
		case err != nil:
			return fmt.Errorf("reading alias %s on %s: %w", name, c.Where, err)
		case current.Type != "" && current.Type != want && current.Target != j.Fingerprint:
			return fmt.Errorf("alias %s on %s names the %s image %s, and this is a %s image; an alias names one image whatever its type, so give this one another alias (--alias %s-%s, or an image name or aliases that depend on build.type in the recipe)",
				name, c.Where, current.Type, image.Short(current.Target), want, name, shortType(want))
		}
	}
	return nil
}

// shortType is an instance type as a suffix: "vm" or "container".
func shortType(t string) string {
	if t == image.InstanceVM {
		return "vm"
	}
	return t
}

// upload sends the image; it says whether this upload stored it (false
// when another client stored the same image first), also with an error
// found after the daemon stored it.
func upload(ctx context.Context, c *Client, opts ImportOptions) (bool, error) {
	j := opts.Image
	up := Upload{Fingerprint: j.Fingerprint, Public: opts.Public, Progress: opts.Progress, VM: j.Type == image.TypeVM}
	for _, f := range j.Files {
		up.Files = append(up.Files, UploadFile{Path: filepath.Join(opts.Dir, f.Name), Size: f.Size})
	}
	fp, err := c.UploadImage(ctx, up)
	var opErr *OperationError
	switch {
	case errors.As(err, &opErr) && isDuplicateImage(opErr.Message):
		// Another client stored it since we looked: same bytes, done.
		return false, nil
	case errors.As(err, &opErr):
		return false, fmt.Errorf("%s refused the image from %s: %s%s", c.Where, opts.Dir, opErr.Message, refusalHint(opErr.Message))
	case err != nil:
		return false, fmt.Errorf("uploading the image from %s to %s: %w", opts.Dir, c.Where, err)
	case fp != j.Fingerprint:
		return true, fmt.Errorf("%s stored the image from %s under fingerprint %s, but image.json says %s: the files changed after the build", c.Where, opts.Dir, fp, j.Fingerprint)
	}
	// The daemon decides the type from the part name or, for a unified
	// file, from its entries: a VM image it took for a container's
	// would fail at launch, far from here.
	stored, err := c.Image(ctx, fp)
	switch {
	case err != nil:
		return true, fmt.Errorf("reading back image %s on %s: %w", image.Short(fp), c.Where, err)
	case stored.Type != "" && stored.Type != j.InstanceType():
		return true, fmt.Errorf("%s stored the image from %s as a %s image, but image.json says %s", c.Where, opts.Dir, stored.Type, j.InstanceType())
	}
	return true, nil
}

// refusalHint explains the refusals whose messages do not say what to do.
func refusalHint(msg string) string {
	lower := strings.ToLower(msg)
	switch {
	case strings.Contains(lower, "fingerprint") && strings.Contains(lower, "match"):
		return " (the files no longer match image.json; rebuild the image)"
	case strings.Contains(lower, "unsupported compression"), strings.Contains(lower, "unknown compression"),
		strings.Contains(lower, "unsupported image format"), strings.Contains(lower, "exit status"):
		return " (the daemon could not unpack the image; an older daemon may not support its compression: try output { compression = \"xz\" } or \"gzip\")"
	}
	return ""
}

// setAliases creates each missing alias and moves each that names another
// image, returning the images aliases were moved away from.
func setAliases(ctx context.Context, c *Client, fp string, names []string, res *ImportResult) ([]string, error) {
	var movedFrom []string
	for _, name := range names {
		current, err := c.Alias(ctx, name)
		switch {
		case IsNotFound(err):
			err = c.CreateAlias(ctx, Alias{Name: name, Target: fp})
			if err != nil {
				return movedFrom, fmt.Errorf("creating alias %s on %s: %w", name, c.Where, err)
			}
			res.Aliases = append(res.Aliases, AliasChange{Name: name, Action: "created"})
		case err != nil:
			return movedFrom, fmt.Errorf("reading alias %s on %s: %w", name, c.Where, err)
		case current.Target == fp:
			res.Aliases = append(res.Aliases, AliasChange{Name: name, Action: "unchanged"})
		default:
			previous := current.Target
			if err := c.RetargetAlias(ctx, Alias{Name: name, Target: fp, Description: current.Description}); err != nil {
				return movedFrom, fmt.Errorf("moving alias %s to image %s on %s: %w", name, image.Short(fp), c.Where, err)
			}
			res.Aliases = append(res.Aliases, AliasChange{Name: name, Action: "moved", Previous: previous})
			if !slices.Contains(movedFrom, previous) {
				movedFrom = append(movedFrom, previous)
			}
		}
	}
	return movedFrom, nil
}

// releaseImages deletes, when replace is set, each image an alias moved
// away from that no alias names any more; the rest are reported as kept.
func releaseImages(ctx context.Context, c *Client, movedFrom []string, replace bool, res *ImportResult) error {
	if len(movedFrom) == 0 {
		return nil
	}
	if !replace {
		res.Kept = movedFrom
		return nil
	}
	aliases, err := c.Aliases(ctx)
	if err != nil {
		return fmt.Errorf("listing aliases before replacing: %w", err)
	}
	for _, old := range movedFrom {
		inUse := slices.ContainsFunc(aliases, func(a Alias) bool { return a.Target == old })
		if inUse {
			res.Kept = append(res.Kept, old)
			continue
		}
		if err := c.DeleteImage(ctx, old); err != nil && !IsNotFound(err) {
			return fmt.Errorf("deleting replaced image %s on %s: %w", image.Short(old), c.Where, err)
		}
		res.Deleted = append(res.Deleted, old)
	}
	return nil
}

// ImageUsers are the aliases naming an image and the instances made
// from it (their volatile.base_image), in c's project: a caller that
// deletes an image it stored checks nobody came to depend on it.
func ImageUsers(ctx context.Context, c *Client, fingerprint string) (aliases, instances []string, err error) {
	img, err := c.Image(ctx, fingerprint)
	if err != nil {
		return nil, nil, err
	}
	for _, a := range img.Aliases {
		aliases = append(aliases, a.Name)
	}
	var list []struct {
		Name   string            `json:"name"`
		Config map[string]string `json:"config"`
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("/1.0/instances", url.Values{"recursion": {"1"}}), nil)
	if err != nil {
		return aliases, nil, err
	}
	r, _, err := c.do(req)
	if err != nil {
		return aliases, nil, fmt.Errorf("listing instances on %s: %w", c.Where, err)
	}
	if err := json.Unmarshal(r.Metadata, &list); err != nil {
		return aliases, nil, fmt.Errorf("listing instances on %s: %w", c.Where, err)
	}
	for _, inst := range list {
		if inst.Config["volatile.base_image"] == fingerprint {
			instances = append(instances, inst.Name)
		}
	}
	return aliases, instances, nil
}
