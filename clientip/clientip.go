// Package clientip says which address a request comes from, for the limits
// that count failures per address (sign-in, client authentication).
//
// Behind a load balancer every request comes from the balancer, and a limit
// per address becomes one limit for everybody: a stranger failing on
// purpose then locks a user's email out for all. The client's own address
// is in X-Forwarded-For, but anyone can write anything there, so it is
// believed only from a proxy the operator names (doorway serve
// --trusted-proxies), and only the entries such proxies appended: read from
// the right, the first address that is not a trusted proxy is the client.
package clientip

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver finds the client address of a request. The zero Resolver trusts
// no proxy: the address is the connection's.
type Resolver struct {
	Trusted []netip.Prefix // proxies whose X-Forwarded-For is believed
}

// Parse reads a comma-separated list of proxies, each a CIDR prefix
// (10.0.0.0/8) or an address (192.0.2.7); "" trusts none.
func Parse(list string) (Resolver, error) {
	var c Resolver
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return Resolver{}, fmt.Errorf("trusted proxy %q is neither an address (192.0.2.7) nor a CIDR prefix (10.0.0.0/8)", s)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		c.Trusted = append(c.Trusted, p.Masked())
	}
	return c, nil
}

// Of returns r's client address: the connection's peer or, when the peer
// is a trusted proxy, the right-most address in X-Forwarded-For that is not
// one (when all are, the left-most).
func (c Resolver) Of(r *http.Request) string {
	peer, ok := parse(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if !c.trusts(peer) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parse(strings.TrimSpace(hops[i]))
		if !ok {
			break // not written by a proxy we trust: the last hop we trust stands
		}
		peer = a
		if !c.trusts(a) {
			break
		}
	}
	return peer.String()
}

func (c Resolver) trusts(a netip.Addr) bool {
	for _, p := range c.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parse reads an address with or without a port ("192.0.2.7:5000",
// "[2001:db8::1]:443", "2001:db8::1"), IPv4-mapped IPv6 as IPv4.
func parse(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return a.Unmap(), err == nil
}
