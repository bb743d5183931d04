package registry

// SetSyncChunk makes full lists go in chunks of n records, and returns a
// function that restores the default. Call it before starting nodes.
func SetSyncChunk(n int) (restore func()) {
	old := syncChunk
	syncChunk = n
	return func() { syncChunk = old }
}
