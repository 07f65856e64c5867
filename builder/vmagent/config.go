package vmagent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// ConfigName is the agent's configuration on its drive, beside the
// agent; the setup script copies both to the agent's directory.
const ConfigName = "agent.json"

// PortPath is the guest's device for the host's serial port
// org.linuxcontainers.lxd.
const PortPath = "/dev/virtio-ports/org.linuxcontainers.lxd"

// Config is what the host tells the agent.
type Config struct {
	// Port is the serial port to serve on; "" is PortPath.
	Port string `json:"port,omitempty"`
	// Files are written before the agent reports ready: the image's
	// templates rendered for the instance, as the daemons' agents do.
	Files []File `json:"files,omitempty"`
}

// File is one file to write in the guest.
type File struct {
	Path    string `json:"path"`
	Content []byte `json:"content"`
	// Mode 0 is 0644.
	Mode uint32 `json:"mode,omitempty"`
	// CreateOnly leaves an existing file alone (a template's
	// create_only).
	CreateOnly bool `json:"create_only,omitempty"`
	UID        int  `json:"uid,omitempty"`
	GID        int  `json:"gid,omitempty"`
}

// WriteConfig writes cfg as ConfigName in dir.
func WriteConfig(dir string, cfg Config) error {
	b, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("agent config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigName), b, 0o600); err != nil {
		return fmt.Errorf("agent config: %w", err)
	}
	return nil
}

// ReadConfig reads ConfigName in dir.
func ReadConfig(dir string) (Config, error) {
	var cfg Config
	b, err := os.ReadFile(filepath.Join(dir, ConfigName))
	if err != nil {
		return cfg, fmt.Errorf("agent config: %w", err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return cfg, fmt.Errorf("agent config %s: %w", ConfigName, err)
	}
	return cfg, nil
}
