package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/builder-images/builder/builder/streams"
)

type serveOptions struct {
	addr      string
	tlsCert   string
	tlsKey    string
	accessLog bool
}

func (a *app) newServeCommand() *cobra.Command {
	opts := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve TREE --tls-cert FILE --tls-key FILE [--addr HOST:PORT]",
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

Only the tree's files are served: no directory listings, nothing outside
the tree, nothing whose name starts with ".". Stops cleanly on SIGINT or
SIGTERM.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runServe(cmd.Context(), opts, args[0])
		},
	}
	cmd.Flags().StringVar(&opts.addr, "addr", "127.0.0.1:8443", "address to listen on")
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
	var log = a.stderr
	if !opts.accessLog {
		log = nil
	}
	h, err := streams.NewHandler(dir, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, h.Close()) }()
	ln, err := net.Listen("tcp", opts.addr)
	if err != nil {
		return fmt.Errorf("serving %s: %w", dir, err)
	}
	fmt.Fprintf(a.stdout, "serving %s on https://%s/\n", dir, ln.Addr())
	if err := streams.Serve(ctx, ln, h, cert); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "stopped")
	return nil
}
