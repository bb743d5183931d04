// Package child runs one benchmark measurement in a fresh copy of the
// running command, so that no measurement inherits another's heap, and
// reads its JSON result.
package child

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
)

// Run re-executes this command with "-child spec" and args and decodes
// what it prints on stdout into a T. The child's stderr passes through.
func Run[T any](spec string, args ...string) (T, error) {
	var res T
	self, err := os.Executable()
	if err != nil {
		return res, fmt.Errorf("%s: find own binary: %w", spec, err)
	}
	cmd := exec.Command(self, append([]string{"-child", spec}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return res, fmt.Errorf("%s: %w", spec, err)
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return res, fmt.Errorf("%s: decode %q: %w", spec, out, err)
	}
	return res, nil
}

// Median returns the median of xs (the upper one of an even count).
func Median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
