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
	self, err := os.Executable()
	if err != nil {
		var res T
		return res, fmt.Errorf("%s: find own binary: %w", spec, err)
	}
	return RunBinary[T](self, spec, args...)
}

// RunBinary runs the command bin with "-child spec" and args, as Run does
// (another benchmark binary, such as one built from an earlier commit).
func RunBinary[T any](bin, spec string, args ...string) (T, error) {
	var res T
	cmd := exec.Command(bin, append([]string{"-child", spec}, args...)...)
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
