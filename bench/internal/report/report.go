// Package report formats benchmark figures for the tables in
// BENCHMARKS.md.
package report

import "fmt"

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
