package bootstrap

// Where an oci block's image comes from: a registry (through
// go-containerregistry's remote package, over HTTPS only) or an OCI image
// layout directory (its layout package). Both hand out raw manifests and
// blobs by digest; oci.go checks every one against its digest itself,
// whichever source it came from.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// ociSource is a registry repository or a layout directory.
type ociSource interface {
	// top is the descriptor the recipe's image names: a tag's or a
	// digest's manifest or index, a layout's ref.name.
	top(ctx context.Context) (v1.Descriptor, error)
	// manifest reads the manifest or index stored under h.
	manifest(ctx context.Context, h v1.Hash) ([]byte, error)
	// blob opens the blob h.
	blob(ctx context.Context, h v1.Hash) (io.ReadCloser, error)
	// String names the source as image.json's base records it.
	String() string
}

// The environment variables whose credentials a registry is sent; see
// registryKeychain.
const (
	RegistryUsernameVar = "BUILDER_REGISTRY_USERNAME"
	RegistryPasswordVar = "BUILDER_REGISTRY_PASSWORD"
)

// registrySource is a repository of a registry, spoken to over HTTPS.
type registrySource struct {
	ref  name.Reference
	opts []remote.Option
}

// ParseImageReference checks an oci block's image: a reference with an
// explicit registry host ("127.0.0.1:5000/name:tag", "host/name@sha256:…"),
// never a name a default registry would complete.
func ParseImageReference(s string) (name.Reference, error) {
	first, _, ok := strings.Cut(s, "/")
	if strings.Contains(first, "@") {
		// Not repeated: the error goes to the build's log.
		return nil, fmt.Errorf("reference names credentials (USER:PASSWORD@HOST), which it may not: a reference is recorded in image.json and the build's log; give them in %s and %s instead", RegistryUsernameVar, RegistryPasswordVar)
	}
	if !ok || !strings.ContainsAny(first, ".:") && first != "localhost" {
		return nil, fmt.Errorf("%q names no registry: write it as HOST[:PORT]/NAME:TAG or HOST[:PORT]/NAME@sha256:DIGEST", s)
	}
	ref, err := name.ParseReference(s, name.StrictValidation)
	if err != nil {
		return nil, fmt.Errorf("%q is not an image reference HOST[:PORT]/NAME:TAG or HOST[:PORT]/NAME@sha256:DIGEST (%w)", s, err)
	}
	if d, ok := ref.(name.Digest); ok {
		if _, err := ParseDigest(d.DigestStr()); err != nil {
			return nil, err
		}
	}
	return ref, nil
}

// ParseDigest checks a manifest digest: sha256 and 64 hex digits, as the
// digests builder checks are.
func ParseDigest(s string) (v1.Hash, error) {
	h, err := v1.NewHash(s)
	if err != nil || h.Algorithm != "sha256" {
		return v1.Hash{}, fmt.Errorf("%q is not sha256:<64 hex digits>", s)
	}
	return h, nil
}

func newRegistrySource(ctx context.Context, ref name.Reference, client *http.Client, getenv func(string) string) *registrySource {
	base := http.DefaultTransport
	if client != nil && client.Transport != nil {
		base = client.Transport
	}
	return &registrySource{ref: ref, opts: []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(httpsOnly{base}),
		remote.WithAuthFromKeychain(registryKeychain(getenv)),
		remote.WithUserAgent("builder"),
	}}
}

func (s *registrySource) String() string { return s.ref.Context().Name() }

func (s *registrySource) top(ctx context.Context) (v1.Descriptor, error) {
	d, err := remote.Get(s.ref, append(s.opts, remote.WithContext(ctx))...)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("asking the registry for %s: %w", s.ref, err)
	}
	return d.Descriptor, nil
}

func (s *registrySource) manifest(ctx context.Context, h v1.Hash) ([]byte, error) {
	d, err := remote.Get(s.ref.Context().Digest(h.String()), append(s.opts, remote.WithContext(ctx))...)
	if err != nil {
		return nil, fmt.Errorf("fetching manifest %s: %w", h, err)
	}
	return d.Manifest, nil
}

func (s *registrySource) blob(ctx context.Context, h v1.Hash) (io.ReadCloser, error) {
	l, err := remote.Layer(s.ref.Context().Digest(h.String()), append(s.opts, remote.WithContext(ctx))...)
	if err != nil {
		return nil, fmt.Errorf("fetching blob %s: %w", h, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("fetching blob %s: %w", h, err)
	}
	return rc, nil
}

// httpsOnly refuses every request that is not HTTPS: go-containerregistry
// falls back to plain HTTP for a registry on a loopback or private
// address, which would send credentials in the clear.
type httpsOnly struct{ base http.RoundTripper }

func (t httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" {
		return nil, fmt.Errorf("refusing %s://%s: builder speaks to registries over HTTPS only", req.URL.Scheme, req.URL.Host)
	}
	return t.base.RoundTrip(req)
}

// registryKeychain gives a registry the credentials of
// BUILDER_REGISTRY_USERNAME and BUILDER_REGISTRY_PASSWORD when either is
// set, else those go-containerregistry's default keychain finds for it:
// $DOCKER_CONFIG/config.json or ~/.docker/config.json (with its
// credential helpers), else $REGISTRY_AUTH_FILE, else podman's
// containers/auth.json; else none.
func registryKeychain(getenv func(string) string) authn.Keychain {
	user, password := getenv(RegistryUsernameVar), getenv(RegistryPasswordVar)
	if user == "" && password == "" {
		return authn.DefaultKeychain
	}
	return staticKeychain{authn.FromConfig(authn.AuthConfig{Username: user, Password: password})}
}

type staticKeychain struct{ auth authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.auth, nil }

// layoutSource is an OCI image layout directory (image-spec
// image-layout.md): index.json names its images, blobs/sha256 holds them.
type layoutSource struct {
	path layout.Path
	// refName picks the image whose org.opencontainers.image.ref.name
	// annotation it is; "" takes the index's only one.
	refName string
}

func newLayoutSource(dir, refName string) (*layoutSource, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("opening the OCI layout %s: %w", dir, err)
	}
	return &layoutSource{path: p, refName: refName}, nil
}

func (s *layoutSource) String() string { return string(s.path) }

func (s *layoutSource) top(context.Context) (v1.Descriptor, error) {
	m, err := s.index()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading %s/index.json: %w", s.path, err)
	}
	var found []v1.Descriptor
	var names []string
	for _, d := range m.Manifests {
		ref := d.Annotations["org.opencontainers.image.ref.name"]
		if ref != "" {
			names = append(names, ref)
		}
		if s.refName == "" || ref == s.refName {
			found = append(found, d)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case s.refName != "":
		return v1.Descriptor{}, fmt.Errorf("%s/index.json names no image %q (its ref.name annotations: %s)", s.path, s.refName, strings.Join(names, ", "))
	default:
		return v1.Descriptor{}, fmt.Errorf("%s/index.json lists %d images: set image to the ref.name of one (%s)", s.path, len(m.Manifests), strings.Join(names, ", "))
	}
}

// index reads the layout's index.json, up to maxManifest bytes.
func (s *layoutSource) index() (*v1.IndexManifest, error) {
	f, err := os.Open(filepath.Join(string(s.path), "index.json"))
	if err != nil {
		return nil, err
	}
	b, err := readBounded(f, maxManifest, "index.json")
	if err = errors.Join(err, f.Close()); err != nil {
		return nil, err
	}
	return v1.ParseIndexManifest(bytes.NewReader(b))
}

// manifest reads the blob h, up to maxManifest bytes: a layout's blob
// can be any size (or a symlink to /dev/zero), and checkDigest reads
// what it is given whole.
func (s *layoutSource) manifest(_ context.Context, h v1.Hash) ([]byte, error) {
	rc, err := s.path.Blob(h)
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", h, err)
	}
	b, err := readBounded(rc, maxManifest, fmt.Sprintf("%s: manifest %s", s.path, h))
	if err = errors.Join(err, rc.Close()); err != nil {
		return nil, err
	}
	return b, nil
}

func (s *layoutSource) blob(_ context.Context, h v1.Hash) (io.ReadCloser, error) {
	rc, err := s.path.Blob(h)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("the layout %s has no blob %s", s.path, h)
	}
	return rc, err
}
