package clientip_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/doorwayhq/doorway/clientip"
)

func TestOf(t *testing.T) {
	behind, err := clientip.Parse("10.0.0.0/8, 192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		via    clientip.Resolver
		remote string
		xff    []string
		want   string
	}{
		{"no proxy trusted: the connection", clientip.Resolver{}, "198.51.100.1:4000", []string{"203.0.113.9"}, "198.51.100.1"},
		{"untrusted peer's header is ignored", behind, "198.51.100.1:4000", []string{"203.0.113.9"}, "198.51.100.1"},
		{"trusted peer: the address it saw", behind, "10.1.2.3:4000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"a client's own entries are passed over", behind, "10.1.2.3:4000", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"a chain of trusted proxies", behind, "10.1.2.3:4000", []string{"203.0.113.9, 192.0.2.7", "10.9.9.9"}, "203.0.113.9"},
		{"garbage a client wrote stops the walk", behind, "10.1.2.3:4000", []string{"evil, 10.9.9.9"}, "10.9.9.9"},
		{"only trusted hops: the left-most", behind, "10.1.2.3:4000", []string{"10.7.7.7, 10.8.8.8"}, "10.7.7.7"},
		{"trusted peer without the header", behind, "10.1.2.3:4000", nil, "10.1.2.3"},
		{"IPv6 with a port", behind, "[2001:db8::1]:443", []string{"203.0.113.9"}, "2001:db8::1"},
		{"IPv4-mapped IPv6 is IPv4", behind, "[::ffff:10.1.2.3]:443", []string{"[2001:db8::9]"}, "2001:db8::9"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := c.via.Of(r); got != c.want {
			t.Errorf("%s: Of = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestParseSaysWhatIsWrong(t *testing.T) {
	if _, err := clientip.Parse("10.0.0.0/8,proxy.internal"); err == nil || !strings.Contains(err.Error(), `"proxy.internal"`) {
		t.Fatalf("Parse of a host name = %v, want an error naming it", err)
	}
	if c, err := clientip.Parse(""); err != nil || len(c.Trusted) != 0 {
		t.Fatalf("Parse(\"\") = %+v, %v; want no proxy trusted", c, err)
	}
}
