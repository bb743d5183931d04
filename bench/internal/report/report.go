// Package report formats benchmark figures for the tables in
// BENCHMARKS.md.
package report

import (
	"fmt"
	"slices"
)

// Human writes a rate or count compactly: 2.13M, 36.4k, 7735.
func Human(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e4:
		return fmt.Sprintf("%.1fk", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}

// Spread returns the median of xs (the upper one of an even count) and
// writes it with the range of xs and unit: "2.13M msg/s (2.01M-2.20M)".
// xs must not be empty.
func Spread(xs []float64, unit string) (med float64, text string) {
	s := slices.Clone(xs)
	slices.Sort(s)
	med = s[len(s)/2]
	return med, fmt.Sprintf("%s %s (%s-%s)", Human(med), unit, Human(s[0]), Human(s[len(s)-1]))
}
