package gossip

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// onlyJoinedGroups stops Linux delivering to c the datagrams of every
// group some other socket on the host joined on c's port (IP_MULTICAST_ALL
// defaults to on), so nodes on different groups sharing a port stay apart.
func onlyJoinedGroups(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("IP_MULTICAST_ALL: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0)
	}); err != nil {
		return fmt.Errorf("IP_MULTICAST_ALL: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("IP_MULTICAST_ALL: %w", serr)
	}
	return nil
}
