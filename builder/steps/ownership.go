package steps

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/builder-images/builder/builder/confined"
	"github.com/builder-images/builder/builder/step"
)

// Ownership is a mode with an owner and group, names resolved inside the
// rootfs when the step runs: confined's, spelt as recipes spell it.
type Ownership confined.Ownership

// ownershipAttributes are the recipe attributes an ownership field holds.
var ownershipAttributes = []string{"mode", "owner", "group"}

// modeText writes the mode in octal, as recipes spell it; a copy's mode 0
// (keep the sources' modes) is "".
func (o Ownership) modeText() string {
	if o.Mode == 0 {
		return ""
	}
	return fmt.Sprintf("%04o", o.Mode)
}

// field is the ownership as one field of its step.
func (o Ownership) field() step.Field {
	value := step.Object(step.Fields{}.
		WithSet("mode", step.Text(o.modeText())).
		With("owner", step.Text(o.Owner)).
		With("group", step.Text(o.Group)))
	return step.Field{Name: "ownership", Value: value, Attributes: ownershipAttributes}
}

// ownershipText renders a (masked) ownership field for a summary:
// "0644 root:root", or what masked it.
func ownershipText(v step.Value) string {
	o, ok := v.(step.Object)
	if !ok {
		if v == nil {
			return ""
		}
		return v.String()
	}
	parts := step.Fields(o)
	owner := parts.Text("owner") + ":" + parts.Text("group")
	if mode := parts.Text("mode"); mode != "" {
		return mode + " " + owner
	}
	return owner
}

// MarshalJSON writes the mode in octal, as recipes spell it; a copy's
// mode 0 (keep the sources' modes) is left out.
func (o Ownership) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Mode  string `json:"mode,omitempty"`
		Owner string `json:"owner"`
		Group string `json:"group"`
	}{o.modeText(), o.Owner, o.Group})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (o *Ownership) UnmarshalJSON(data []byte) error {
	var w struct {
		Mode  string `json:"mode"`
		Owner string `json:"owner"`
		Group string `json:"group"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*o = Ownership{Owner: w.Owner, Group: w.Group}
	if w.Mode != "" {
		mode, err := strconv.ParseUint(w.Mode, 8, 32)
		if err != nil {
			return fmt.Errorf("mode %q: %w", w.Mode, err)
		}
		o.Mode = uint32(mode)
	}
	return nil
}
