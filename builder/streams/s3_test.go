package streams

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/internal/s3test"
	"github.com/minio/minio-go/v7"
)

func s3Tree(t *testing.T, srv *s3test.Server, prefix string) *Tree {
	t.Helper()
	st, err := Open("s3://"+srv.Bucket+"/"+prefix, srv.Env(), false)
	if err != nil {
		t.Fatal(err)
	}
	return &Tree{Store: st}
}

// TestS3PublishAndLock publishes to a real S3 server: conditional writes
// must hold, concurrent publishers must all land, and a stale lock is
// taken over.
func TestS3PublishAndLock(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	tr := s3Tree(t, srv, "nightly/tree")

	// The server honours If-None-Match and If-Match, or no lock holds.
	if err := tr.Store.WriteIndex(ctx, "probe.json", []byte("{}"), ""); err != nil {
		t.Fatal(err)
	}
	if err := tr.Store.WriteIndex(ctx, "probe.json", []byte("{}"), ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("If-None-Match: * on an existing object: %v", err)
	}
	_, tag, err := tr.Store.ReadIndex(ctx, "probe.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Store.WriteIndex(ctx, "probe.json", []byte("[]"), "0123"); !errors.Is(err, ErrConflict) {
		t.Fatalf("If-Match on a wrong ETag: %v", err)
	}
	if err := tr.Store.WriteIndex(ctx, "probe.json", []byte("[]"), tag); err != nil {
		t.Fatalf("If-Match on the right ETag: %v", err)
	}
	if err := tr.Store.Remove(ctx, "probe.json"); err != nil {
		t.Fatal(err)
	}

	// Four publishers at once, each with its own image.
	var dirs []string
	for i := range 4 {
		dirs = append(dirs, fakeImage(t, []string{image.TypeSplit, image.TypeUnified}[i%2], fmt.Sprintf("r%d", i), "20260101_0000", uint64(50+i), time.Time{}))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(dirs))
	for i, d := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s3Tree(t, srv, "nightly/tree").Publish(ctx, []string{d}, false)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := listed(t, tr); len(got) != 4 {
		t.Fatalf("listed %v, want 4 images", got)
	}
	if problems, err := tr.Verify(ctx); err != nil || len(problems) > 0 {
		t.Fatalf("verify: %v %v", problems, err)
	}
	if names, err := tr.Store.List(ctx, ImagesDir); err != nil || len(names) != 6 {
		t.Fatalf("images/: %v %v", names, err)
	}

	// A lock whose holder died: taken over after its expiry, not before.
	s3 := tr.Store.(*S3Store)
	s3.lockTTL = time.Minute
	if _, err := s3.Lock(ctx, "dead publisher"); err != nil { // never released
		t.Fatal(err)
	}
	other := s3Tree(t, srv, "nightly/tree").Store.(*S3Store)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := other.Lock(short, "second"); err == nil {
		t.Fatal("a live lock was taken")
	}
	other.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	unlock, err := other.Lock(ctx, "second")
	if err != nil {
		t.Fatalf("taking over an expired lock: %v", err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Remove(ctx, "busybox:r0:default:x86_64"); err != nil {
		t.Fatal(err)
	}
	if got := listed(t, tr); !slices.Equal(got, []string{"busybox:r1:default:x86_64:20260101_0000", "busybox:r2:default:x86_64:20260101_0000", "busybox:r3:default:x86_64:20260101_0000"}) {
		t.Fatalf("after remove: %v", got)
	}
}

// An index replaced while it is read (the lock, renewed by its holder
// while another publisher reads it) is read again, not reported as a
// failed precondition: minio reads with If-Match on the ETag it saw.
func TestS3ReadIndexWhileReplaced(t *testing.T) {
	srv := s3test.Start(t)
	ctx := t.Context()
	st := s3Tree(t, srv, "race").Store.(*S3Store)
	if err := st.WriteIndex(ctx, "x.json", []byte("0"), ""); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			body := bytes.Repeat([]byte{byte('a' + i%26)}, 64<<10)
			if _, err := st.client.PutObject(ctx, st.bucket, st.key("x.json"), bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for range 300 {
		data, _, err := st.ReadIndex(ctx, "x.json")
		if err != nil {
			t.Fatalf("reading an index being replaced: %v", err)
		}
		if len(data) > 1 && !bytes.Equal(data, bytes.Repeat(data[:1], len(data))) {
			t.Fatalf("read a mix of two versions")
		}
	}
}
