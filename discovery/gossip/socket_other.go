//go:build !linux

package gossip

import "net"

// onlyJoinedGroups is a no-op: other systems deliver a group's datagrams
// only to sockets that joined it.
func onlyJoinedGroups(*net.UDPConn) error { return nil }
