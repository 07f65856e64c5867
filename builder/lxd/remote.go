package lxd

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// RemoteOptions says how to reach a daemon over HTTPS.
type RemoteOptions struct {
	// URL is https://HOST[:PORT]; 8443 is the default port.
	URL string
	// ClientCert and ClientKey are PEM files; the server must trust the
	// certificate ('lxc config trust add').
	ClientCert, ClientKey string
	// ServerCert, when set, is a PEM file holding the one certificate the
	// server may present (what 'lxc remote add' stores in servercerts/);
	// otherwise the server's certificate must chain to the system's
	// trusted authorities and name the host.
	ServerCert string
	Project    string
}

// ClientConfigDir is where the daemon's command-line client keeps its
// certificate, key and remotes: $LXD_CONF, the snap's directory when it
// exists, or ~/.config/lxc for LXD; $INCUS_CONF or ~/.config/incus for
// Incus.
func ClientConfigDir(d Daemon, lookupEnv func(string) (string, bool), home string) string {
	env := func(name string) string {
		if lookupEnv == nil {
			return ""
		}
		v, _ := lookupEnv(name)
		return v
	}
	if d == Incus {
		if dir := env("INCUS_CONF"); dir != "" {
			return dir
		}
		return filepath.Join(home, ".config", "incus")
	}
	if dir := env("LXD_CONF"); dir != "" {
		return dir
	}
	if snap := filepath.Join(home, "snap", "lxd", "common", "config"); exists(snap) {
		return snap
	}
	return filepath.Join(home, ".config", "lxc")
}

// ResolveRemote turns --remote's value into RemoteOptions: an https URL
// as is, or the name of a remote in the client's config.yml, with the
// server certificate the client pinned for it. Empty certificate fields
// take the client's own certificate and key from configDir.
func ResolveRemote(spec, configDir string, opts RemoteOptions) (RemoteOptions, error) {
	opts.URL = spec
	if !strings.Contains(spec, "://") {
		addr, project, err := remoteFromConfig(configDir, spec)
		if err != nil {
			return opts, err
		}
		opts.URL = addr
		if opts.Project == "" {
			opts.Project = project
		}
		if pinned := filepath.Join(configDir, "servercerts", spec+".crt"); opts.ServerCert == "" && exists(pinned) {
			opts.ServerCert = pinned
		}
	}
	u, err := url.Parse(opts.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return opts, fmt.Errorf("remote %q: want https://HOST[:PORT] or the name of a remote in %s", spec, filepath.Join(configDir, "config.yml"))
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), "8443")
	}
	opts.URL = "https://" + u.Host
	if opts.ClientCert == "" {
		opts.ClientCert = filepath.Join(configDir, "client.crt")
	}
	if opts.ClientKey == "" {
		opts.ClientKey = filepath.Join(configDir, "client.key")
	}
	return opts, nil
}

func remoteFromConfig(configDir, name string) (addr, project string, err error) {
	path := filepath.Join(configDir, "config.yml")
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("remote %q: reading the client's remotes: %w", name, err)
	}
	var cfg struct {
		Remotes map[string]struct {
			Addr     string `yaml:"addr"`
			Protocol string `yaml:"protocol"`
			Project  string `yaml:"project"`
		} `yaml:"remotes"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return "", "", fmt.Errorf("remote %q: reading %s: %w", name, path, err)
	}
	r, ok := cfg.Remotes[name]
	if !ok {
		return "", "", fmt.Errorf("remote %q is not in %s", name, path)
	}
	if r.Protocol != "" && r.Protocol != "lxd" && r.Protocol != "incus" {
		return "", "", &NotADaemonError{Name: name, Protocol: r.Protocol, Addr: r.Addr}
	}
	return r.Addr, r.Project, nil
}

// NotADaemonError is a remote of the client configuration that is no
// LXD or Incus daemon (a simplestreams image server, as lxc's "images").
type NotADaemonError struct {
	Name, Protocol, Addr string
}

func (e *NotADaemonError) Error() string {
	return fmt.Sprintf("remote %q speaks %s; images are uploaded only to a daemon (protocol lxd or incus)", e.Name, e.Protocol)
}

// NewRemoteClient returns a client for a daemon's HTTPS API. The Daemon
// field is set by Connect.
func NewRemoteClient(opts RemoteOptions) (*Client, error) {
	cert, err := tls.LoadX509KeyPair(opts.ClientCert, opts.ClientKey)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("client certificate for %s: %w (create one with 'lxc remote add', or pass --client-cert and --client-key)", opts.URL, err)
		}
		return nil, fmt.Errorf("client certificate %s / %s: %w", opts.ClientCert, opts.ClientKey, err)
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if opts.ServerCert != "" {
		pinned, err := readCertificate(opts.ServerCert)
		if err != nil {
			return nil, err
		}
		// A pinned certificate is compared whole, as the daemons' clients
		// do: LXD servers present self-signed certificates whose names
		// rarely match the address used.
		tlsConfig.InsecureSkipVerify = true
		tlsConfig.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], pinned.Raw) {
				return fmt.Errorf("the server's certificate is not the one in %s", opts.ServerCert)
			}
			return nil
		}
	}
	transport := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     tlsConfig,
		TLSHandshakeTimeout: 10 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		DisableCompression:  true,
	}
	return &Client{
		http:    &http.Client{Transport: transport},
		base:    opts.URL,
		Project: opts.Project,
		Daemon:  LXD,
		Where:   opts.URL,
	}, nil
}

func readCertificate(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("server certificate %s: no PEM CERTIFICATE block", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("server certificate %s: %w", path, err)
	}
	return cert, nil
}
