package cluster

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
)

// dropTransport is memberlist's network transport with a switch that
// drops what this node sends to chosen addresses (Config.Drop).
type dropTransport struct {
	*memberlist.NetTransport
	drop func(addr string) bool
}

var _ memberlist.NodeAwareTransport = (*dropTransport)(nil)

func (t *dropTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if t.drop(addr) {
		return time.Now(), nil // lost on the way, as UDP may be
	}
	return t.NetTransport.WriteTo(b, addr)
}

func (t *dropTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

func (t *dropTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if t.drop(addr) {
		return nil, fmt.Errorf("dial %s: traffic dropped", addr)
	}
	return t.NetTransport.DialTimeout(addr, timeout)
}

func (t *dropTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// dropping gives mc a network transport that honours drop, bound as
// memberlist would bind its own.
func dropping(mc *memberlist.Config, drop func(string) bool) error {
	nc := &memberlist.NetTransportConfig{BindAddrs: []string{mc.BindAddr}, BindPort: mc.BindPort, Logger: mc.Logger}
	var nt *memberlist.NetTransport
	var err error
	for range 10 { // a free port may be taken for UDP between tries
		if nt, err = memberlist.NewNetTransport(nc); err == nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("start membership transport on %s:%d: %w", mc.BindAddr, mc.BindPort, err)
	}
	if mc.BindPort == 0 {
		mc.BindPort = nt.GetAutoBindPort()
		if mc.AdvertisePort == 0 {
			mc.AdvertisePort = mc.BindPort
		}
	}
	mc.Transport = &dropTransport{NetTransport: nt, drop: drop}
	return nil
}
