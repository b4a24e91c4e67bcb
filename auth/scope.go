// Package auth holds the tokens clients present to the cache: their files,
// their scopes, how a presented secret is matched against them in constant
// time, and the back-off of addresses that keep presenting wrong ones.
package auth

import (
	"fmt"
	"strings"
)

// Scope is a set of rights a token grants.
type Scope uint8

const (
	// Read allows narinfos, NARs, listings, logs and realisations of a
	// private cache.
	Read Scope = 1 << iota
	// Push allows uploads (PUT), and implies Read: a host that uploads a
	// closure first asks which paths the cache already has.
	Push
	// Metrics allows /metrics, so that a scraper's token reads no paths.
	Metrics
	// Sign lets the server sign an upload that carries no signature by a
	// key trusted for pushes; it implies Push. A builder without a
	// signing key of its own needs it.
	Sign
)

var scopeNames = []struct {
	name  string
	scope Scope
}{{"read", Read}, {"push", Push}, {"metrics", Metrics}, {"sign", Sign}}

// Allows reports whether a token of scopes s may do what need asks.
func (s Scope) Allows(need Scope) bool {
	if s&Sign != 0 {
		s |= Push
	}
	if s&Push != 0 {
		s |= Read
	}
	return s&need == need
}

// String lists the scopes comma-separated, as the token file writes them.
func (s Scope) String() string {
	var names []string
	for _, n := range scopeNames {
		if s&n.scope != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ",")
}

// ParseScopes reads a comma-separated list such as "read,push".
func ParseScopes(list string) (Scope, error) {
	var s Scope
	for _, word := range strings.Split(list, ",") {
		found := false
		for _, n := range scopeNames {
			if word == n.name {
				s |= n.scope
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown scope %q (want read, push, sign or metrics)", word)
		}
	}
	return s, nil
}
