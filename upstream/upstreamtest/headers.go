package upstreamtest

import (
	"net/http"
	"strings"
)

// headerRule adds a response header to the paths containing match.
type headerRule struct {
	match, key, value string
}

// SetHeader makes the successful responses to paths containing match carry
// "key: value", e.g. Content-Encoding for a file kept encoded, as binary
// caches keep listings and build logs. An empty value removes the rule.
func (s *Server) SetHeader(match, key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rules := s.headers[:0:0]
	for _, r := range s.headers {
		if r.match != match || !strings.EqualFold(r.key, key) {
			rules = append(rules, r)
		}
	}
	if value != "" {
		rules = append(rules, headerRule{match: match, key: key, value: value})
	}
	s.headers = rules
}

// addHeaders sets the headers of the rules matching p.
func (s *Server) addHeaders(h http.Header, p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.headers {
		if strings.Contains(p, r.match) {
			h.Set(r.key, r.value)
		}
	}
}
