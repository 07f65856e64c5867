package streams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config is how to reach an S3-compatible server.
type S3Config struct {
	// Endpoint is host[:port]; Insecure selects http instead of https.
	Endpoint string
	Insecure bool
	Region   string
	// AccessKey, SecretKey and SessionToken; all empty means anonymous
	// requests, enough to read a public bucket.
	AccessKey, SecretKey, SessionToken string
}

// S3ConfigFromEnv reads the variables the AWS tools read:
// AWS_ENDPOINT_URL_S3 (else AWS_ENDPOINT_URL), AWS_REGION (else
// AWS_DEFAULT_REGION), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN. An endpoint without a scheme is https; http:// is
// allowed for servers on a trusted network.
func S3ConfigFromEnv(environ []string) (S3Config, error) {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := env[k]; v != "" {
				return v
			}
		}
		return ""
	}
	cfg := S3Config{
		Region:       first("AWS_REGION", "AWS_DEFAULT_REGION"),
		AccessKey:    env["AWS_ACCESS_KEY_ID"],
		SecretKey:    env["AWS_SECRET_ACCESS_KEY"],
		SessionToken: env["AWS_SESSION_TOKEN"],
	}
	name := "AWS_ENDPOINT_URL_S3"
	if env[name] == "" {
		name = "AWS_ENDPOINT_URL"
	}
	raw := env[name]
	if raw == "" {
		return S3Config{}, errors.New("no S3 endpoint: set AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) to the server's URL")
	}
	// An endpoint is scheme, host and port, so an "@" can only be
	// user:password@ (or a URL that does not parse): refuse it before
	// anything quotes the URL, since it is a secret.
	if strings.Contains(raw, "@") {
		return S3Config{}, fmt.Errorf("%s holds credentials (user:password@ before the host), which builder neither uses nor prints: %s", name, credentialsHint)
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return S3Config{}, fmt.Errorf("S3 endpoint %q: %w", raw, err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return S3Config{}, fmt.Errorf("S3 endpoint %q: the scheme must be https or http", raw)
	case u.Host == "":
		return S3Config{}, fmt.Errorf("S3 endpoint %q has no host", raw)
	case u.Path != "" && u.Path != "/", u.RawQuery != "":
		return S3Config{}, fmt.Errorf("S3 endpoint %q: only scheme, host and port are allowed", raw)
	}
	cfg.Endpoint, cfg.Insecure = u.Host, u.Scheme == "http"
	if (cfg.AccessKey == "") != (cfg.SecretKey == "") {
		return S3Config{}, errors.New("set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither for anonymous access")
	}
	return cfg, nil
}

// credentialsHint says where S3 credentials go instead of a URL.
const credentialsHint = "give the server's URL alone, and the credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)"

// S3Store is a tree under a prefix of an S3 bucket, addressed path-style
// (http://endpoint/bucket/key), which every S3-compatible server takes.
type S3Store struct {
	client *minio.Client
	bucket string
	prefix string
	// now is the clock of lock expiries.
	now func() time.Time
	// lockTTL is how long a lock holds without being renewed.
	lockTTL time.Duration
}

// NewS3Store returns the tree at s3://bucket/prefix.
func NewS3Store(cfg S3Config, bucket, prefix string) (*S3Store, error) {
	where := "s3://" + bucket + "/" + prefix
	if bucket == "" {
		return nil, fmt.Errorf("opening %s: no bucket", where)
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" && path.Clean(prefix) != prefix || strings.HasPrefix(prefix, "..") {
		return nil, fmt.Errorf("opening %s: the prefix must be a clean path", where)
	}
	creds := credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)
	if cfg.AccessKey == "" {
		creds = credentials.NewStatic("", "", "", credentials.SignatureAnonymous)
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        creds,
		Secure:       !cfg.Insecure,
		Region:       cfg.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", where, err)
	}
	return &S3Store{client: client, bucket: bucket, prefix: prefix, now: time.Now, lockTTL: 2 * time.Minute}, nil
}

func (s *S3Store) String() string {
	return "s3://" + s.bucket + "/" + s.prefix
}

func (s *S3Store) key(name string) string {
	if s.prefix == "" {
		return name
	}
	return s.prefix + "/" + name
}

// s3Error turns "no such key" into fs.ErrNotExist and says which object.
func (s *S3Store) s3Error(op, name string, err error) error {
	resp := minio.ToErrorResponse(err)
	if resp.StatusCode == http.StatusNotFound || resp.Code == "NoSuchKey" {
		return fmt.Errorf("%s %s/%s: %w", op, s, name, fs.ErrNotExist)
	}
	return fmt.Errorf("%s %s/%s: %w", op, s, name, err)
}

// isPreconditionFailed reports a conditional request that lost: 412, or
// 409 ConditionalRequestConflict when two conditional writes race.
func isPreconditionFailed(err error) bool {
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		return false
	}
	return resp.StatusCode == http.StatusPreconditionFailed || resp.Code == "PreconditionFailed" ||
		resp.Code == "ConditionalRequestConflict"
}

func (s *S3Store) Stat(ctx context.Context, name string) (int64, error) {
	info, err := s.client.StatObject(ctx, s.bucket, s.key(name), minio.StatObjectOptions{})
	if err != nil {
		return 0, s.s3Error("reading", name, err)
	}
	return info.Size, nil
}

func (s *S3Store) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	obj, err := s.client.GetObject(ctx, s.bucket, s.key(name), minio.GetObjectOptions{})
	if err != nil {
		return nil, s.s3Error("reading", name, err)
	}
	// GetObject is lazy: Stat makes the request, so that a missing
	// object is an error here and not on the first Read.
	if _, err := obj.Stat(); err != nil {
		return nil, errors.Join(s.s3Error("reading", name, err), obj.Close())
	}
	return obj, nil
}

// ReadIndex returns the object's ETag as its tag; the ETag and the bytes
// come from one GET. (minio's Object would Stat first and make its reads
// conditional on that ETag: an index replaced between the two, such as
// the lock renewed by its holder while another publisher reads it, then
// failed with 412.)
func (s *S3Store) ReadIndex(ctx context.Context, name string) (_ []byte, _ string, err error) {
	body, info, _, err := (&minio.Core{Client: s.client}).GetObject(ctx, s.bucket, s.key(name), minio.GetObjectOptions{})
	if err != nil {
		return nil, "", s.s3Error("reading", name, err)
	}
	defer func() { err = errors.Join(err, body.Close()) }()
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, "", s.s3Error("reading", name, err)
	}
	return data, info.ETag, nil
}

// WriteIndex is a conditional PUT: If-Match on the ETag read, or
// If-None-Match: * when there was nothing.
func (s *S3Store) WriteIndex(ctx context.Context, name string, data []byte, tag string) error {
	opts := minio.PutObjectOptions{ContentType: "application/json", CacheControl: "no-cache"}
	if tag == "" {
		opts.SetMatchETagExcept("*")
	} else {
		opts.SetMatchETag(tag)
	}
	_, err := s.client.PutObject(ctx, s.bucket, s.key(name), bytes.NewReader(data), int64(len(data)), opts)
	if isPreconditionFailed(err) {
		return fmt.Errorf("writing %s/%s: %w", s, name, ErrConflict)
	}
	if err != nil {
		return s.s3Error("writing", name, err)
	}
	return nil
}

// PutFile uploads straight to name: S3 has no rename. When check fails
// the object is removed again; tree verify would catch one left behind by
// a crash in between.
func (s *S3Store) PutFile(ctx context.Context, name string, r io.Reader, size int64, check func() error) error {
	_, err := s.client.PutObject(ctx, s.bucket, s.key(name), r, size, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return s.s3Error("uploading", name, err)
	}
	if err := check(); err != nil {
		return errors.Join(err, s.Remove(ctx, name))
	}
	return nil
}

func (s *S3Store) Remove(ctx context.Context, name string) error {
	if err := s.client.RemoveObject(ctx, s.bucket, s.key(name), minio.RemoveObjectOptions{}); err != nil {
		if isNotExist(s.s3Error("removing", name, err)) {
			return nil
		}
		return s.s3Error("removing", name, err)
	}
	return nil
}

func (s *S3Store) List(ctx context.Context, dir string) ([]string, error) {
	var names []string
	base := s.key("")
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.key(dir) + "/", Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("listing %s/%s: %w", s, dir, obj.Err)
		}
		name := strings.TrimPrefix(obj.Key, base)
		if strings.HasPrefix(path.Base(name), ".") {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// lockRequestTimeout bounds each renewal and the release, so a stalled
// connection cannot hold a publisher past its lock's expiry.
const lockRequestTimeout = 30 * time.Second

// renew extends the lock. A renewal whose answer was lost may still have
// written the object, leaving our ETag stale: then the object is read
// back, and if it is still ours its ETag is adopted instead of failing.
func (s *S3Store) renew(ctx context.Context, put func(context.Context, string) (bool, error), etag, owner string, adopt *string) error {
	ctx, cancel := context.WithTimeout(ctx, lockRequestTimeout)
	defer cancel()
	ok, err := put(ctx, etag)
	if err == nil && ok {
		return nil
	}
	data, tag, readErr := s.ReadIndex(ctx, LockName)
	var rec lockRecord
	if readErr == nil && json.Unmarshal(data, &rec) == nil && rec.Owner == owner {
		*adopt = tag
		return nil
	}
	if err == nil {
		err = errors.New("the lock was taken over by another publisher")
	}
	return err
}

// lockRecord is the lock object's content.
type lockRecord struct {
	Owner   string    `json:"owner"`
	Expires time.Time `json:"expires"`
}

// Lock creates the lock object with a conditional PUT (If-None-Match: *):
// of two publishers exactly one succeeds. The object holds the owner and
// an expiry, renewed while the lock is held; a lock past its expiry
// belongs to a publisher that died and is taken over with If-Match on its
// ETag, so that of two publishers taking over the same stale lock only
// one wins. Clocks of publishers must agree to well within the lock's
// lifetime (two minutes).
func (s *S3Store) Lock(ctx context.Context, owner string) (func() error, error) {
	var etag string
	put := func(ctx context.Context, matchETag string) (bool, error) {
		body, err := json.Marshal(lockRecord{Owner: owner, Expires: s.now().Add(s.lockTTL).UTC()})
		if err != nil {
			return false, err
		}
		opts := minio.PutObjectOptions{ContentType: "application/json"}
		if matchETag == "" {
			opts.SetMatchETagExcept("*")
		} else {
			opts.SetMatchETag(matchETag)
		}
		info, err := s.client.PutObject(ctx, s.bucket, s.key(LockName), bytes.NewReader(body), int64(len(body)), opts)
		if isPreconditionFailed(err) {
			return false, nil
		}
		if err != nil {
			return false, s.s3Error("writing", LockName, err)
		}
		etag = info.ETag
		return true, nil
	}
	try := func() (bool, error) {
		if ok, err := put(ctx, ""); ok || err != nil {
			return ok, err
		}
		data, tag, err := s.ReadIndex(ctx, LockName)
		if isNotExist(err) {
			return false, nil // released meanwhile: try again
		}
		if err != nil {
			return false, err
		}
		var rec lockRecord
		if json.Unmarshal(data, &rec) == nil && s.now().Before(rec.Expires) {
			return false, nil
		}
		// Expired, or garbage no publisher wrote: take it over.
		return put(ctx, tag)
	}
	if err := pollLock(ctx, try); err != nil {
		return nil, fmt.Errorf("locking tree %s: %w", s, err)
	}

	// Renew the lock while it is held, in case a publisher spends
	// longer under it than its lifetime (re-uploading a file, say). ctx
	// bounded the wait; the renewals last until unlock.
	hold := context.WithoutCancel(ctx)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var renewErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(s.lockTTL / 4)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			mu.Lock()
			err := s.renew(hold, put, etag, owner, &etag)
			if err != nil && renewErr == nil {
				renewErr = err
			}
			mu.Unlock()
		}
	}()
	return func() error {
		close(stop)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		if renewErr != nil {
			return fmt.Errorf("unlocking tree %s: %w", s, renewErr)
		}
		// Remove the lock only while it is still ours.
		rctx, cancel := context.WithTimeout(hold, lockRequestTimeout)
		defer cancel()
		info, err := s.client.StatObject(rctx, s.bucket, s.key(LockName), minio.StatObjectOptions{})
		if err != nil {
			return s.s3Error("unlocking", LockName, err)
		}
		if info.ETag != etag {
			return fmt.Errorf("unlocking tree %s: the lock was taken over by another publisher", s)
		}
		if err := s.client.RemoveObject(rctx, s.bucket, s.key(LockName), minio.RemoveObjectOptions{}); err != nil {
			return s.s3Error("unlocking", LockName, err)
		}
		return nil
	}, nil
}
