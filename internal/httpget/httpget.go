// Package httpget makes the HTTP requests of tests and returns their
// status, headers and body.
package httpget

import (
	"io"
	"net/http"
	"testing"
)

// Get sends GET url with Authorization auth (none if empty) and returns
// the status, the headers and the body; a failure to send fails t.
func Get(t testing.TB, url, auth string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return Do(t, req)
}

// Do sends req and returns the status, the headers and the body; a
// failure to send fails t.
func Do(t testing.TB, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}
