package sqlstore

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestParseListAgreesWithJSON: the split that skips the JSON decoder gives
// what the decoder gives, for what list writes and for what it does not.
func TestParseListAgreesWithJSON(t *testing.T) {
	written := [][]string{nil, {}, {""}, {"customer_read"}, {"customer_read", "invoice_write"},
		{`a","b`}, {`quote"inside`}, {`back\slash`}, {"<html>&"}, {"ünï", "🙂"}, {"", ""}, {`"`, `","`}}
	raw := []string{`["a", "b"]`, `[ "a" ]`, `["a",  "b"]`, `["]`, `[`, `"a"`, `["a"`, `null`, `[1]`}
	for _, l := range written {
		raw = append(raw, list(l))
	}
	for _, s := range raw {
		got, gotErr := parseList(s, "test")
		var want []string
		wantErr := json.Unmarshal([]byte(s), &want)
		if (gotErr != nil) != (wantErr != nil) || gotErr == nil && !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("parseList(%s) = %q, %v; the JSON decoder gives %q, %v", s, got, gotErr, want, wantErr)
		}
	}
	for _, l := range written[1:] {
		if got, err := parseList(list(l), "test"); err != nil || !reflect.DeepEqual(got, l) {
			t.Errorf("parseList(list(%q)) = %q, %v", l, got, err)
		}
	}
}
