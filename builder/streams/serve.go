package streams

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/builder-images/builder/builder/image"
)

// ImportPrefix is where the URL import protocol is answered; see the
// package documentation.
const ImportPrefix = "/1.0/images/"

// Handler serves a tree in a local directory: its files, read through an
// os.Root so that neither ".." nor a symbolic link leads out of the tree,
// and LXD's URL import under ImportPrefix. Names starting with "." (the
// lock, temporary files) and directories are never served.
type Handler struct {
	root   *os.Root
	public *url.URL
	log    io.Writer
}

// HandlerOptions configure a Handler.
type HandlerOptions struct {
	// PublicURL is where clients reach the tree, required: the URL
	// import answers with image URLs below it. It is never taken from a
	// request, whose Host header any client sets.
	PublicURL *url.URL
	// Log receives one line per request; nil discards them.
	Log io.Writer
}

// NewHandler serves the tree at dir. Close releases the directory.
func NewHandler(dir string, opts HandlerOptions) (*Handler, error) {
	if err := CheckPublicURL(opts.PublicURL); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("serving tree: %w", err)
	}
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	return &Handler{root: root, public: opts.PublicURL, log: log}, nil
}

// CheckPublicURL says why u cannot be a tree's public URL: LXD and Incus
// take images from https URLs only, and the URL is published in every
// import answer, so it carries no credentials, query or fragment.
func CheckPublicURL(u *url.URL) error {
	switch {
	case u == nil:
		return errors.New("serving tree: no public URL")
	case u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("the public URL %s must be https://HOST[:PORT][/PATH]", u.Redacted())
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return fmt.Errorf("the public URL %s must be https://HOST[:PORT][/PATH], without credentials, query or fragment", u.Redacted())
	}
	return nil
}

// fileURL is the public URL of the tree's file at rel.
func (h *Handler) fileURL(rel string) string {
	u := *h.public
	u.Path = path.Join("/", u.Path, rel)
	u.RawPath = ""
	return u.String()
}

// Close releases the tree's directory.
func (h *Handler) Close() error { return h.root.Close() }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		rec.Header().Set("Allow", "GET, HEAD")
		http.Error(rec, "only GET and HEAD", http.StatusMethodNotAllowed)
	} else if name, ok := strings.CutPrefix(r.URL.Path, ImportPrefix); ok {
		h.serveImport(rec, r, name)
	} else {
		h.serveFile(rec, r)
	}
	// The path as escaped on the wire: a %0a in it stays "%0A" rather
	// than starting a line of its own; logField quotes whatever else
	// could.
	fmt.Fprintf(h.log, "%s %s %s %d\n", logField(r.RemoteAddr), logField(r.Method), logField(r.URL.EscapedPath()), rec.status)
}

// logField returns s as it can stand in a log line: as it is when it is
// printable ASCII without spaces or quotes, else quoted with Go's escapes.
func logField(s string) string {
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// treePath turns a URL path into a name inside the tree, refusing what is
// not a clean path to a visible file.
func treePath(urlPath string) (string, bool) {
	if !strings.HasPrefix(urlPath, "/") || path.Clean(urlPath) != urlPath || urlPath == "/" {
		return "", false
	}
	name := urlPath[1:]
	for _, part := range strings.Split(name, "/") {
		if strings.HasPrefix(part, ".") {
			return "", false
		}
	}
	return name, true
}

func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request) {
	name, ok := treePath(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	f, err := h.root.Open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close() // read-only: nothing to lose on close
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", contentType(name))
	if strings.HasPrefix(name, "streams/") {
		// The index files and their signatures change with every
		// publish; images/ files never change (content-addressed).
		w.Header().Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, name, st.ModTime(), f)
}

// contentType is the Content-Type of a tree file: the indexes are
// JSON, a signed tree's clearsigned copies and SHA256SUMS text, its
// detached signatures OpenPGP's (signed.go).
func contentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".json"):
		return "application/json"
	case strings.HasSuffix(name, SigExt):
		return "application/pgp-signature"
	case strings.HasSuffix(name, ".sjson"), strings.HasSuffix(name, SumsExt):
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}

// importAnswer is the JSON body of a GET under ImportPrefix, for people.
type importAnswer struct {
	Fingerprint  string `json:"fingerprint"`
	URL          string `json:"url"`
	Product      string `json:"product"`
	Version      string `json:"version"`
	Architecture string `json:"architecture"`
}

// serveImport answers LXD's and Incus's URL import: the newest unified
// image called name for one of the architectures the daemon lists, as
// LXD-Image-Hash and LXD-Image-URL headers (and the Incus- ones).
func (h *Handler) serveImport(w http.ResponseWriter, r *http.Request, name string) {
	data, err := h.root.ReadFile(ProductsPath)
	if err != nil {
		http.Error(w, "this tree has no images yet", http.StatusNotFound)
		return
	}
	p, err := parseProducts(data, ProductsPath)
	if err != nil {
		http.Error(w, "the tree's index is damaged", http.StatusInternalServerError)
		return
	}
	archs := requestArchitectures(r.Header)
	img, err := resolveImport(p, name, archs)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	u := h.fileURL(img.Unified)
	for _, prefix := range []string{"LXD", "Incus"} {
		w.Header().Set(prefix+"-Image-Hash", img.Fingerprint)
		w.Header().Set(prefix+"-Image-URL", u)
	}
	body, err := marshalJSON(importAnswer{img.Fingerprint, u, img.Product, img.Version, img.Architecture})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body) // the client went away; nothing to tell it
	}
}

// lxdArchitectureIDs are LXD's numeric architecture IDs (shared/osarch),
// which daemons before the canonical names sent in the header.
var lxdArchitectureIDs = map[string]string{
	"1": "i686", "2": "x86_64", "3": "armv7l", "4": "aarch64", "5": "ppc",
	"6": "ppc64", "7": "ppc64le", "8": "s390x", "12": "riscv64", "13": "armv6l", "15": "loongarch64",
}

// requestArchitectures reads the daemon's architectures, most preferred
// first, as LXD canonical names; nil when the request names none.
func requestArchitectures(hdr http.Header) []string {
	var out []string
	for _, key := range []string{"LXD-Server-Architectures", "Incus-Server-Architectures"} {
		for _, tok := range strings.Split(hdr.Get(key), ",") {
			tok = strings.TrimSpace(tok)
			if id, ok := lxdArchitectureIDs[tok]; ok {
				tok = id
			}
			if a, err := image.LookupArchitecture(tok); err == nil && !slices.Contains(out, a.LXD) {
				out = append(out, a.LXD)
			} else if tok != "" && err != nil && !slices.Contains(out, tok) {
				out = append(out, tok)
			}
		}
	}
	return out
}

// resolveImport finds the image for a URL import. name is an alias of a
// product ("busybox/static/default"), an alias with the architecture
// ("busybox/static/default/x86_64"), a product key, PRODUCT:VERSION, or a
// fingerprint (a prefix of at least 12 digits). Only unified images
// qualify: the protocol carries one file. Among several, the daemon's
// preferred architecture wins, then the newest version.
func resolveImport(p *Products, name string, archs []string) (Image, error) {
	var cands []Image
	for _, img := range p.images() {
		if img.Unified == "" {
			continue
		}
		prod := p.Products[img.Product]
		aliases := prod.aliasList()
		ok := img.Product == name || img.Product+":"+img.Version == name ||
			slices.Contains(aliases, name) || slices.ContainsFunc(aliases, func(a string) bool { return a+"/"+prod.Arch == name }) ||
			(len(name) >= 12 && strings.HasPrefix(img.Fingerprint, name))
		if ok {
			cands = append(cands, img)
		}
	}
	if len(cands) == 0 {
		return Image{}, fmt.Errorf("no unified image called %q in this tree (URL import takes unified images only; add the tree as a simplestreams remote for split ones)", name)
	}
	rank := func(img Image) int {
		if len(archs) == 0 {
			return 0
		}
		if i := slices.Index(archs, img.Architecture); i >= 0 {
			return i
		}
		return -1
	}
	best := -1
	for i, img := range cands {
		r := rank(img)
		if r < 0 {
			continue
		}
		if best < 0 || r < rank(cands[best]) || (r == rank(cands[best]) && img.Version > cands[best].Version) {
			best = i
		}
	}
	if best < 0 {
		return Image{}, fmt.Errorf("no unified image called %q for architectures %s", name, strings.Join(archs, ", "))
	}
	return cands[best], nil
}
