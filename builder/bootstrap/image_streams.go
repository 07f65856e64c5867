package bootstrap

import (
	"context"
	"errors"
)

// streamsSource is bootstrap "image"'s simplestreams source (server =
// "https://…"): helper B of issue 18 replaces this file with the client.
type streamsSource struct{}

func (streamsSource) resolve(context.Context, ResolveEnv, *Config) (*Base, error) {
	return nil, errors.New("simplestreams servers are not supported yet")
}

func (streamsSource) fetch(context.Context, Env, *Config, string) error {
	return errors.New("simplestreams servers are not supported yet")
}

// streamsTools are the host tools the simplestreams source runs.
func streamsTools() []Tool { return nil }
