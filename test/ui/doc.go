// Package ui tests House Party's live view in a real browser: Debian's
// chromium driven by chromedp against real houseparty processes on
// loopback. It is its own module so that the library's module graph does
// not carry a browser driver; it imports nothing from Shoal and runs the
// binary as an operator would. Run it with `make ui-test`.
package ui
