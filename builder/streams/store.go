package streams

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"
)

// ErrConflict is returned by Store.WriteIndex when the file changed since
// it was read: another publisher got there first.
var ErrConflict = errors.New("changed by someone else since it was read")

// Store is where a tree lives: a local directory or an S3 prefix. Names
// are slash-separated paths relative to the tree root.
type Store interface {
	// String names the tree for messages: a path or s3://bucket/prefix.
	String() string
	// Stat returns a file's size; a missing file is fs.ErrNotExist.
	Stat(ctx context.Context, name string) (int64, error)
	// Open reads a file; a missing file is fs.ErrNotExist.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// ReadIndex reads a small file whole, with a tag that changes when
	// its content does; a missing file is fs.ErrNotExist.
	ReadIndex(ctx context.Context, name string) (data []byte, tag string, err error)
	// WriteIndex replaces a small file atomically, only if its tag is
	// still tag ("" means: only if it does not exist), else ErrConflict.
	WriteIndex(ctx context.Context, name string, data []byte, tag string) error
	// PutFile stores size bytes read from r under name. check runs once
	// r is consumed: when it fails, name is left as it was (directory)
	// or removed again (S3), and PutFile returns its error.
	PutFile(ctx context.Context, name string, r io.Reader, size int64, check func() error) error
	// Remove deletes a file; a missing file is not an error.
	Remove(ctx context.Context, name string) error
	// List returns the names of the files below dir, sorted.
	List(ctx context.Context, dir string) ([]string, error)
	// Lock takes the tree's lock for owner, waiting as long as ctx
	// allows, and returns the function that releases it.
	Lock(ctx context.Context, owner string) (unlock func() error, err error)
}

// Open returns the store for target: a directory path, or
// s3://bucket/prefix configured from environ (see S3ConfigFromEnv).
// create makes a missing directory; without it a missing one is an error.
func Open(target string, environ []string, create bool) (Store, error) {
	if rest, ok := strings.CutPrefix(target, "s3://"); ok {
		bucket, prefix, _ := strings.Cut(rest, "/")
		if strings.ContainsAny(bucket, "@:") {
			// s3://user:password@bucket: the target is not quoted, since
			// it may hold a secret.
			return nil, fmt.Errorf("opening the s3:// tree: its bucket name holds \"@\" or \":\", as user:password@ does; builder takes neither credentials nor a server in the target: %s, and the server in AWS_ENDPOINT_URL_S3", credentialsHint)
		}
		cfg, err := S3ConfigFromEnv(environ)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", target, err)
		}
		return NewS3Store(cfg, bucket, prefix)
	}
	if strings.Contains(target, "://") {
		return nil, fmt.Errorf("opening %s: a tree is a directory or s3://bucket/prefix", target)
	}
	return NewDirStore(target, create)
}

// isNotExist reports a missing file in any store.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// pollLock waits for try to take a lock: it calls try until it reports
// success, an error, or ctx ends, sleeping a little longer each time
// (up to a second: a publisher holds the lock for seconds at most).
func pollLock(ctx context.Context, try func() (bool, error)) error {
	delay := 20 * time.Millisecond
	for {
		ok, err := try()
		if err != nil || ok {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, time.Second)
	}
}
