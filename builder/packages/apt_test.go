package packages

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// recordingManager records the operations Apply asks for.
type recordingManager struct{ ops []string }

func (r *recordingManager) Update(context.Context) error { r.ops = append(r.ops, "update"); return nil }
func (r *recordingManager) Upgrade(context.Context) error {
	r.ops = append(r.ops, "upgrade")
	return nil
}
func (r *recordingManager) Cleanup(context.Context) error {
	r.ops = append(r.ops, "cleanup")
	return nil
}
func (r *recordingManager) Install(_ context.Context, p []string) error {
	r.ops = append(r.ops, "install "+strings.Join(p, " "))
	return nil
}
func (r *recordingManager) Remove(_ context.Context, p []string) error {
	r.ops = append(r.ops, "remove "+strings.Join(p, " "))
	return nil
}

func TestApplyPackagesOrder(t *testing.T) {
	m := &recordingManager{}
	p := &Config{Update: true, Upgrade: true, Install: []string{"a", "b"}, Remove: []string{"c"}, Cleanup: true}
	if err := Apply(context.Background(), m, p); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.ops, ", "); got != "update, upgrade, install a b, remove c, cleanup" {
		t.Errorf("operations: %s", got)
	}
	m = &recordingManager{}
	_ = Apply(context.Background(), m, &Config{Install: []string{"x"}})
	if got := strings.Join(m.ops, ", "); got != "install x" {
		t.Errorf("only install asked: %s", got)
	}
}

func TestAptCommands(t *testing.T) {
	var calls []string
	a := apt{run: func(_ context.Context, argv ...string) error {
		calls = append(calls, strings.Join(argv, " "))
		return nil
	}}
	ctx := context.Background()
	_ = a.Install(ctx, []string{"curl"})
	_ = a.Cleanup(ctx)
	for i, want := range []string{"apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o APT::Install-Recommends=false -o Dpkg::Options::=--force-unsafe-io install curl", "autoremove --purge", "clean"} {
		if i >= len(calls) || !strings.HasSuffix(calls[i], want) {
			t.Errorf("call %d = %q, want it to end with %q", i, calls, want)
		}
	}
}

func TestManagerNames(t *testing.T) {
	names := ManagerNames()
	if !slices.IsSorted(names) || !slices.Contains(names, "apt") {
		t.Errorf("managers %v: want them sorted, apt among them", names)
	}
	for _, name := range names {
		if _, err := New(name, nil); err != nil {
			t.Errorf("New(%q): %v", name, err)
		}
	}
	if _, err := New("yum", nil); err == nil {
		t.Error("New of an unknown manager succeeded")
	}
}
