package registry

import "time"

// SetSyncChunk makes full lists go in chunks of n records, and returns a
// function that restores the default. Call it before starting nodes.
func SetSyncChunk(n int) (restore func()) {
	old := syncChunk
	syncChunk = n
	return func() { syncChunk = old }
}

// SetResyncEvery sets how often a registry checks for peers it has no full
// list from, and returns a function that restores the default. Call it
// before starting nodes.
func SetResyncEvery(d time.Duration) (restore func()) {
	old := resyncEvery
	resyncEvery = d
	return func() { resyncEvery = old }
}
