package image

import (
	"errors"
	"fmt"
	"slices"
)

// Where a recipe test runs: Test.On holds these.
const (
	TestOnContainer = "container"
	TestOnVM        = "vm"
)

// Test is a recipe's `test` block as image.json records it: a script
// `builder test` runs inside the booted instance. It is kept in
// image.json rather than read from the recipe again because an output
// directory is tested on its own, often on another machine.
type Test struct {
	// Name is the block's label, unique within the image.
	Name string `json:"name"`
	// Script is run as a run step's is: by the interpreter of its #!
	// line, /bin/sh without one.
	Script string `json:"script"`
	// On lists where the test runs: TestOnContainer, TestOnVM.
	On []string `json:"on"`
	// Timeout bounds one run of the script, in seconds.
	Timeout int `json:"timeout"`
	// File and Line are where the block starts in the recipe, so a
	// failure points at it as a failed run step does.
	File string `json:"file"`
	Line int    `json:"line"`
}

// RunsOn says t runs on instances of instanceType (InstanceContainer
// or InstanceVM, as LXD's API names them).
func (t Test) RunsOn(instanceType string) bool {
	want := TestOnContainer
	if instanceType == InstanceVM {
		want = TestOnVM
	}
	return slices.Contains(t.On, want)
}

// checkTests reports tests without a name or script, with a name
// twice, an unknown place in On, or a timeout that is not positive.
func checkTests(tests []Test) error {
	var errs []error
	seen := map[string]bool{}
	for i, t := range tests {
		label := fmt.Sprintf("test %d", i)
		if t.Name != "" {
			label = fmt.Sprintf("test %q", t.Name)
		}
		switch {
		case t.Name == "":
			errs = append(errs, fmt.Errorf("%s has no name", label))
		case seen[t.Name]:
			errs = append(errs, fmt.Errorf("%s is listed twice", label))
		}
		seen[t.Name] = true
		if t.Script == "" {
			errs = append(errs, fmt.Errorf("%s has no script", label))
		}
		if len(t.On) == 0 {
			errs = append(errs, fmt.Errorf("%s runs nowhere: on is empty", label))
		}
		for _, on := range t.On {
			if on != TestOnContainer && on != TestOnVM {
				errs = append(errs, fmt.Errorf("%s: on %q is neither %q nor %q", label, on, TestOnContainer, TestOnVM))
			}
		}
		if t.Timeout <= 0 {
			errs = append(errs, fmt.Errorf("%s: timeout %d is not a positive number of seconds", label, t.Timeout))
		}
	}
	return errors.Join(errs...)
}
