package profile

import (
	"net/url"

	"github.com/doorwayhq/doorway"
)

// Single reads the query parameters names from q, refusing any given more
// than once (which one counts would depend on the parser). has reports
// which were present.
func Single(q url.Values, names ...string) (vals map[string]string, has map[string]bool, err error) {
	vals, has = map[string]string{}, map[string]bool{}
	for _, k := range names {
		if n := len(q[k]); n > 1 {
			return nil, nil, doorway.Errorf(doorway.EInvalid, "%s is given %d times in the install link; give it once.", k, n)
		}
		vals[k], has[k] = q.Get(k), q.Has(k)
	}
	return vals, has, nil
}
