// Package api holds what the operator API's server (package admin) and
// its clients (cmd/shoal) share: the token's derivation and the JSON
// answers. It depends on nothing heavier than the cookie, so a client
// stays small.
package api

import (
	"encoding/hex"

	"github.com/shoalhq/shoal/cookie"
)

// PurposeToken is the cookie key purpose the admin token is derived with.
const PurposeToken = "shoal admin token v1"

// MinToken is the shortest token a server takes.
const MinToken = 16

// Token returns the admin token of a cluster whose cookie is c: 32 bytes
// derived from it, in hex.
func Token(c cookie.Cookie) string { return hex.EncodeToString(c.Key(PurposeToken, 32)) }

// Member is one member as GET /admin/members lists it (the cluster
// package's Member, as JSON).
type Member struct {
	Name        string `json:"name"`
	Address     string `json:"address"`
	LinkAddress string `json:"link_address,omitempty"`
	Status      string `json:"status"` // alive, suspect, dead or left
	Self        bool   `json:"self,omitempty"`
	Incarnation uint64 `json:"incarnation,omitempty"`
}

// Location is where a name runs (GET /admin/whereis).
type Location struct {
	Name string `json:"name"`
	Node string `json:"node"`
	ID   uint64 `json:"id"`
}

// Registered is one registered name (GET /admin/registered).
type Registered struct {
	Name string `json:"name"`
	Node string `json:"node"`
	ID   uint64 `json:"id"`
	Kind string `json:"kind"`
}

// Stats are a node's numbers (GET /admin/stats).
type Stats struct {
	Node string `json:"node"`
	// Local is the registered processes this node runs; Processes all
	// its processes (system ones too).
	Local     int    `json:"local"`
	Processes int    `json:"processes"`
	Members   int    `json:"members"`
	Synced    string `json:"synced"` // "yes", or why not
	// Goroutines and HeapBytes are the Go runtime's.
	Goroutines int    `json:"goroutines"`
	HeapBytes  uint64 `json:"heap_bytes"`
}

// Inspection is what there is to know of one name (GET /admin/inspect).
type Inspection struct {
	Name string `json:"name"`
	Node string `json:"node"`
	ID   uint64 `json:"id"`
	Kind string `json:"kind"`
	// Groups the name is in; Generation grows each time its process was
	// replaced (1 for the first); Incarnation is the start of its node.
	Groups      []string `json:"groups"`
	Generation  uint64   `json:"generation"`
	Incarnation uint64   `json:"incarnation"`
	// Mailbox is the messages waiting behind those the process handles.
	Mailbox int `json:"mailbox"`
	// Summary is the process's own account of itself, if it gives one
	// (Described); DescribeError says why it did not in time.
	Summary       string `json:"summary,omitempty"`
	Described     bool   `json:"described"`
	DescribeError string `json:"describe_error,omitempty"`
}

// Drained answers POST /admin/drain: the node drained and how long it
// took.
type Drained struct {
	Node    string  `json:"node"`
	Seconds float64 `json:"seconds"`
}
