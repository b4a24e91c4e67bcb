package auth

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

func mustToken(t testing.TB, name string, scopes Scope, secret string) Token {
	t.Helper()
	tok, err := NewToken(name, scopes, secret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestLookup(t *testing.T) {
	s, err := NewSet(mustToken(t, "a", Read, secretA), mustToken(t, "b", Push, secretB))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		secret, want string
	}{
		{secretA, "a"},
		{secretB, "b"},
		{"", ""},
		{secretA[:len(secretA)-1], ""},
		{secretA + "0", ""},
		{strings.ToUpper(secretA), ""},
		{"1" + secretA[1:], ""},
	} {
		tok, ok := s.Lookup(tc.secret)
		if ok != (tc.want != "") || tok.Name != tc.want {
			t.Errorf("lookup %q: got %q %v, want %q", tc.secret, tok.Name, ok, tc.want)
		}
	}
	if !s.Grants(Read) || !s.Grants(Push) || s.Grants(Metrics) {
		t.Errorf("grants: read %v push %v metrics %v", s.Grants(Read), s.Grants(Push), s.Grants(Metrics))
	}
	var none *Set
	if _, ok := none.Lookup(secretA); ok || none.Len() != 0 || none.Grants(Read) {
		t.Error("a nil set matched")
	}
	if n := testing.AllocsPerRun(100, func() { s.Lookup(secretB) }); n != 0 {
		t.Errorf("lookup allocates %v times", n)
	}
}

func TestNewSetRefusesDuplicates(t *testing.T) {
	if _, err := NewSet(mustToken(t, "a", Read, secretA), mustToken(t, "a", Read, secretB)); err == nil {
		t.Error("two tokens named a accepted")
	}
	_, err := NewSet(mustToken(t, "a", Read, secretA), mustToken(t, "b", Push, secretA))
	if err == nil || strings.Contains(err.Error(), secretA) {
		t.Errorf("one secret twice: %v", err)
	}
}

func TestCredential(t *testing.T) {
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	for _, tc := range []struct {
		header, secret string
		present        bool
	}{
		{"", "", false},
		{basic("", secretA), secretA, true},
		{basic("anything", secretA), secretA, true},
		{basic(secretA, ""), "", true},
		{"Bearer " + secretA, secretA, true},
		{"bearer  " + secretA + " ", secretA, true},
		{"Basic !!!", "", true},
		{"Digest x", "", true},
	} {
		h := http.Header{}
		if tc.header != "" {
			h.Set("Authorization", tc.header)
		}
		secret, present := Credential(h)
		if secret != tc.secret || present != tc.present {
			t.Errorf("%q: got %q %v, want %q %v", tc.header, secret, present, tc.secret, tc.present)
		}
	}
}
