// Package sys holds the key to package process's side door
// (process.Runtime.System): the hooks that the registry of this module
// needs and that no embedder may call, because calling them out of turn
// breaks what the registry guarantees (a process paused for a handoff,
// forwarded to its new incarnation, given a conflict's losing state,
// asked for a checkpoint; processes at fixed ids). Only this module's
// packages can import this package, so only they can make a Key.
package sys

// Key opens process.Runtime.System. The zero value is the key.
type Key struct{ key struct{} }
