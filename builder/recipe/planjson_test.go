package recipe

import (
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/builder-images/builder/builder/steps"
)

// TestPlanActionsRoundTrip: the fields an action writes in its own
// spelling (an octal mode, a timeout) are read back as they were.
func TestPlanActionsRoundTrip(t *testing.T) {
	rng := hcl.Range{Filename: "r.hcl", Start: hcl.Pos{Line: 3, Column: 1, Byte: 20}, End: hcl.Pos{Line: 3, Column: 9, Byte: 28}}
	plan := &Plan{File: "r.hcl", Dir: ".", Steps: []Step{
		{Kind: "file", Name: "/etc/x", Stage: StageFiles, Enabled: true, Range: rng,
			Action: &steps.File{Path: "/etc/x", Content: "x\n", Ownership: steps.Ownership{Mode: 0o4750, Owner: "root", Group: "adm"}}},
		{Kind: "copy", Name: "/opt", Stage: StageFiles, Enabled: true, Action: &steps.Copy{Path: "/opt", Source: "/src"}},
		{Kind: "copy", Name: "/srv", Stage: StageFiles, Enabled: true, Action: &steps.Copy{Path: "/srv", Source: "/src", Ownership: &steps.Ownership{Owner: "1", Group: "2"}}},
		{Kind: "run", Name: "s", Stage: StagePostFiles, Enabled: false, Sensitive: []string{"script"},
			Action: &steps.Run{Name: "s", Script: "#!/bin/sh\n", Environment: []steps.EnvVar{{Name: "A", Value: "b"}}, Capabilities: []string{"SYS_ADMIN"}, Timeout: 90*time.Second + time.Millisecond}},
	}}
	data, err := MarshalPlan(plan)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalPlan(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Steps, plan.Steps) {
		t.Errorf("steps:\ngot  %+v\nwant %+v", got.Steps, plan.Steps)
	}
	if _, err := UnmarshalPlan([]byte(`{"steps":[{"kind":"nosuch","action":{}}]}`)); err == nil {
		t.Error("a step of an unknown kind was decoded")
	}
}
