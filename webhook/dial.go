package webhook

import (
	"fmt"
	"net/netip"
	"syscall"
)

// cgnat is the shared address space of RFC 6598, private in all but name.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// Public reports whether addr is a public unicast address: not loopback,
// private (RFC 1918, RFC 4193), link-local, shared (RFC 6598), unspecified
// or multicast.
func Public(addr netip.Addr) bool {
	addr = addr.Unmap()
	return addr.IsValid() && addr.IsGlobalUnicast() && !addr.IsPrivate() && !cgnat.Contains(addr)
}

// refusePrivate is a net.Dialer Control function: it runs after DNS, on the
// address actually dialled, so a name that resolves (or re-resolves) to an
// internal address cannot reach one.
func refusePrivate(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook target %s: %w", address, err)
	}
	if !Public(ap.Addr()) {
		return &privateError{ap.Addr()}
	}
	return nil
}

type privateError struct{ addr netip.Addr }

func (e *privateError) Error() string {
	return fmt.Sprintf("refused to connect to %s: it is a private, loopback or link-local address "+
		"(a platform that delivers to its own network sets --webhook-allow-private or DOORWAY_WEBHOOK_ALLOW_PRIVATE=1)", e.addr)
}
