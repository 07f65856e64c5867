package steps

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/step/steptest"
)

func TestRunStep(t *testing.T) {
	tests := []struct {
		name string
		run  Run
		want []string
	}{
		{"plain", Run{Name: "hello", Script: "echo hi\n"},
			[]string{"script hello", "exec hello: /bin/sh /tmp/builder-run-hello"}},
		{"environment", Run{Name: "env", Script: "env\n", Environment: []EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "2", Sensitive: true}}},
			[]string{"script env", "exec env: /bin/sh /tmp/builder-run-env (env A=1 B=2)"}},
		{"a capability the sandbox keeps anyway", Run{Name: "chown", Script: "chown x y\n", Capabilities: []string{"CHOWN"}},
			[]string{"script chown", "exec chown: /bin/sh /tmp/builder-run-chown (caps CHOWN)"}},
		{"a capability that reaches the host", Run{Name: "mount", Script: "mount\n", Capabilities: []string{"SYS_ADMIN"}},
			[]string{"script mount", "warn mount: builder: this step keeps the capabilities SYS_ADMIN, which can reach the build host",
				"exec mount: /bin/sh /tmp/builder-run-mount (caps SYS_ADMIN)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := &steptest.Runtime{}
			tt.run.Timeout = time.Minute
			if err := tt.run.Run(context.Background(), rt); err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Join(rt.Calls, "\n"), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("calls:\n%s\nwant:\n%s", got, want)
			}
			if c := rt.Commands[0]; c.Name != "the script" || c.Timeout != time.Minute {
				t.Errorf("command %+v: want it named \"the script\" with the step's timeout", c)
			}
		})
	}
}

func TestRunStepRefusesUnknownCapability(t *testing.T) {
	rt := &steptest.Runtime{}
	err := (&Run{Name: "x", Script: "true\n", Capabilities: []string{"NOT_A_CAP"}}).Run(context.Background(), rt)
	if err == nil || len(rt.Commands) > 0 {
		t.Errorf("Run = %v after %v; want an error and no command", err, rt.Calls)
	}
}
