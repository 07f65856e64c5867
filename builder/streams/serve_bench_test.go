package streams

// BenchmarkServeDownload measures what bounding the server costs a
// download: a 256 MiB file over loopback HTTPS, through Serve (every
// write under its own deadline, in 64 KiB parts) and through a plain
// http.Server with the same handler and TLS (what Serve was before).
//
//	go test -run '^$' -bench ServeDownload -benchtime 5x ./builder/streams
//
// Metrics: bounded-MBps, plain-MBps, bounded/plain (throughput ratio;
// 1 is no cost).

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/builder-images/builder/internal/benchutil"
)

func BenchmarkServeDownload(b *testing.B) {
	const size = 256 << 20
	dir := b.TempDir()
	bigFile(b, dir, "big.img", size)
	cert, client := selfSigned(b)
	download := func(base string) float64 {
		start := time.Now()
		resp, err := client.Get(base + "/big.img")
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != size {
			b.Fatalf("downloaded %d bytes: %v", n, err)
		}
		return size / (1 << 20) / time.Since(start).Seconds()
	}
	listen := func() (net.Listener, string, *Handler) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		base := "https://" + ln.Addr().String()
		u, _ := url.Parse(base)
		h, err := NewHandler(dir, HandlerOptions{PublicURL: u})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { h.Close() })
		return ln, base, h
	}
	ln, bounded, h := listen()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h, cert, ServeOptions{}) }()
	defer func() { cancel(); <-done }()
	pln, plain, ph := listen()
	srv := &http.Server{Handler: ph, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go func() { _ = srv.ServeTLS(pln, "", "") }()
	defer srv.Close()

	var m benchutil.Metrics
	for range b.N {
		o, p := download(bounded), download(plain)
		m.Add("bounded-MBps", o)
		m.Add("plain-MBps", p)
		m.Add("bounded/plain", o/p)
	}
	m.Report(b)
}
