package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"

	"github.com/spf13/cobra"

	"github.com/builder-images/builder/builder/streams"
)

type serveOptions struct {
	addr      string
	publicURL string
	tlsCert   string
	tlsKey    string
	accessLog bool
	maxConns  int
}

func (a *app) newServeCommand() *cobra.Command {
	opts := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve TREE --tls-cert FILE --tls-key FILE [--addr HOST:PORT] [--public-url URL]",
		Short: "Serve a simplestreams tree over HTTPS",
		Long: `Serve makes a tree in a directory an image server: add it with
'lxc remote add NAME https://HOST:PORT --protocol simplestreams'. LXD and
Incus require HTTPS; a certificate the clients do not trust through the
system store can be pinned by copying it to the client's
servercerts/NAME.crt (~/.config/lxc/servercerts/ for lxc).

It also answers LXD's URL import for unified images:
'lxc image import https://HOST:PORT/1.0/images/NAME', where NAME is an alias,
ALIAS/ARCH, a product, PRODUCT:VERSION or a fingerprint; the daemon gets the
newest image for its architecture. (That request is made by the daemon, so
the certificate must be trusted by the daemon's system store.)

The URL import answers with image URLs below --public-url, the address
clients reach the server at (behind a proxy or a name, say), never below
the Host a request names. It defaults to https://ADDR with --addr's
host, or this machine's host name when --addr listens on every address.

Only the tree's files are served: no directory listings, nothing outside
the tree, nothing whose name starts with ".". Clients are bounded: at most
--max-connections at once (more wait), 30 s to send a request (TLS
handshake included), 60 s for any write of a response to progress (a
client that stops reading is dropped; a slow one is served to the end),
2 minutes idle between requests. Stops cleanly on SIGINT or SIGTERM.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runServe(cmd.Context(), opts, args[0])
		},
	}
	cmd.Flags().StringVar(&opts.addr, "addr", "127.0.0.1:8443", "address to listen on")
	cmd.Flags().StringVar(&opts.publicURL, "public-url", "", "https URL clients reach the server at, for image URLs (default https://ADDR)")
	cmd.Flags().IntVar(&opts.maxConns, "max-connections", streams.DefaultMaxConns, "connections served at once; more wait")
	cmd.Flags().StringVar(&opts.tlsCert, "tls-cert", "", "server certificate (PEM), with its chain (required)")
	cmd.Flags().StringVar(&opts.tlsKey, "tls-key", "", "server key (PEM) (required)")
	cmd.Flags().BoolVar(&opts.accessLog, "access-log", false, "print one line per request to stderr")
	_ = cmd.MarkFlagRequired("tls-cert")
	_ = cmd.MarkFlagRequired("tls-key")
	return cmd
}

func (a *app) runServe(ctx context.Context, opts *serveOptions, dir string) (err error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usageError{fmt.Errorf("%s is not a directory", dir)}
	}
	cert, err := tls.LoadX509KeyPair(opts.tlsCert, opts.tlsKey)
	if err != nil {
		return fmt.Errorf("loading the TLS certificate: %w", err)
	}
	if opts.maxConns < 1 {
		return usageError{fmt.Errorf("--max-connections must be at least 1, not %d", opts.maxConns)}
	}
	var public *url.URL
	if opts.publicURL != "" {
		if public, err = url.Parse(opts.publicURL); err == nil {
			err = streams.CheckPublicURL(public)
		}
		if err != nil {
			return usageError{fmt.Errorf("--public-url: %w", err)}
		}
	}
	var log io.Writer
	if opts.accessLog {
		log = a.stderr
	}
	ln, err := net.Listen("tcp", opts.addr)
	if err != nil {
		return fmt.Errorf("serving %s: %w", dir, err)
	}
	defer ln.Close() // already closed by Serve, unless it never ran
	if public == nil {
		if public, err = defaultPublicURL(ln.Addr()); err != nil {
			return err
		}
	}
	h, err := streams.NewHandler(dir, streams.HandlerOptions{PublicURL: public, Log: log})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, h.Close()) }()
	fmt.Fprintf(a.stdout, "serving %s on https://%s/\n", dir, ln.Addr())
	if own := "https://" + ln.Addr().String() + "/"; public.String() != own {
		fmt.Fprintf(a.stdout, "image URLs below %s\n", public)
	}
	if err := streams.Serve(ctx, ln, h, cert, streams.ServeOptions{MaxConns: opts.maxConns, ErrorLog: log}); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "stopped")
	return nil
}

// defaultPublicURL is https://ADDR for the address listened on; an
// address that means every interface (0.0.0.0, [::]) names no host a
// client could use, so this machine's host name stands for it.
func defaultPublicURL(addr net.Addr) (*url.URL, error) {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return nil, fmt.Errorf("reading the listening address %s: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if host, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("naming this server for its image URLs (or pass --public-url): %w", err)
		}
	}
	return &url.URL{Scheme: "https", Host: net.JoinHostPort(host, port), Path: "/"}, nil
}
