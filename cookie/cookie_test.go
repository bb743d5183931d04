package cookie_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/shoalhq/shoal/cookie"
)

func TestKeys(t *testing.T) {
	a, err := cookie.Parse("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := cookie.Parse("correct horse battery staple")
	c, _ := cookie.Parse("correct horse battery stapl3")
	if !bytes.Equal(a.Key(cookie.PurposeGossip, 32), b.Key(cookie.PurposeGossip, 32)) {
		t.Fatal("same cookie, different keys")
	}
	if bytes.Equal(a.Key(cookie.PurposeGossip, 32), c.Key(cookie.PurposeGossip, 32)) {
		t.Fatal("different cookies, same key")
	}
	if bytes.Equal(a.Key(cookie.PurposeGossip, 32), a.Key(cookie.PurposeLinkCA, 32)) {
		t.Fatal("different purposes, same key")
	}
	if bytes.Contains(a.Key(cookie.PurposeGossip, 32), []byte("horse")) {
		t.Fatal("key contains the cookie")
	}
	if _, err := cookie.Parse("short"); !errors.Is(err, cookie.ErrTooShort) {
		t.Fatalf("short cookie: %v", err)
	}
	r1, r2 := cookie.Random(), cookie.Random()
	if !r1.IsRandom() || bytes.Equal(r1.Key(cookie.PurposeGossip, 32), r2.Key(cookie.PurposeGossip, 32)) {
		t.Fatal("random cookies collide")
	}
	if strings.Contains(a.String(), "horse") {
		t.Fatal("String leaks the cookie")
	}
}
