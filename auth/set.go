package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
)

// Set is the tokens a server accepts. A nil *Set holds none.
type Set struct {
	tokens []Token
}

// NewSet gathers tokens, refusing two with one name (logs would not tell
// them apart) or one secret (its scopes would be ambiguous).
func NewSet(tokens ...Token) (*Set, error) {
	names := make(map[string]bool, len(tokens))
	hashes := make(map[[sha256.Size]byte]string, len(tokens))
	for _, t := range tokens {
		if names[t.Name] {
			return nil, fmt.Errorf("two tokens are named %q", t.Name)
		}
		if other, ok := hashes[t.hash]; ok {
			return nil, fmt.Errorf("tokens %q and %q have the same secret", other, t.Name)
		}
		names[t.Name] = true
		hashes[t.hash] = t.Name
	}
	return &Set{tokens: append([]Token(nil), tokens...)}, nil
}

// Len is the number of tokens.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.tokens)
}

// Grants reports whether any token allows need.
func (s *Set) Grants(need Scope) bool {
	for _, t := range s.all() {
		if t.Scopes.Allows(need) {
			return true
		}
	}
	return false
}

func (s *Set) all() []Token {
	if s == nil {
		return nil
	}
	return s.tokens
}

// Lookup finds the token whose secret is secret. It compares hashes, so
// the time taken says nothing of the secret's length, and compares every
// token without stopping at a match, so it says nothing of which matched.
func (s *Set) Lookup(secret string) (Token, bool) {
	sum := sha256.Sum256([]byte(secret))
	found := -1
	for i, t := range s.all() {
		eq := subtle.ConstantTimeCompare(sum[:], t.hash[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return Token{}, false
	}
	return s.tokens[found], true
}

// Credential returns the secret a request presents: the password of
// Basic auth (what Nix sends from its netrc; the login is ignored), or a
// Bearer token. present is false without an Authorization header; a
// header that does not parse is present with an empty secret, which no
// token matches.
func Credential(h http.Header) (secret string, present bool) {
	v := h.Get("Authorization")
	if v == "" {
		return "", false
	}
	scheme, rest, _ := strings.Cut(v, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return strings.TrimSpace(rest), true
	case strings.EqualFold(scheme, "Basic"):
		userPass, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
		if err != nil {
			return "", true
		}
		_, password, _ := strings.Cut(string(userPass), ":")
		return password, true
	}
	return "", true
}
