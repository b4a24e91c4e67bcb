package auth

import (
	"strings"
	"testing"
)

const (
	secretA = "0123456789abcdef0123456789abcdef"
	secretB = "ZmVkY2JhOTg3NjU0MzIxMA-_~+/=.abc"
)

func TestParse(t *testing.T) {
	data := "# name scopes secret\n\n" +
		"laptops   read          " + secretA + "\n" +
		"  ci@build\tread,push\t" + secretB + "  \n" +
		"prometheus metrics,read 0000000000000000\n"
	tokens, err := Parse("tokens", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name   string
		scopes Scope
	}{{"laptops", Read}, {"ci@build", Read | Push}, {"prometheus", Metrics | Read}}
	if len(tokens) != len(want) {
		t.Fatalf("got %d tokens, want %d", len(tokens), len(want))
	}
	for i, w := range want {
		if tokens[i].Name != w.name || tokens[i].Scopes != w.scopes {
			t.Errorf("token %d: got %s %s, want %s %s", i, tokens[i].Name, tokens[i].Scopes, w.name, w.scopes)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	long := strings.Repeat("a", MaxSecretLen+1)
	for _, tc := range []struct {
		name, data, want string
	}{
		{"empty", "", "no token"},
		{"only comments", "# laptops read " + secretA + "\n", "no token"},
		{"two fields", "laptops " + secretA, "tokens:1: 2 fields"},
		{"four fields", "laptops read " + secretA + " extra", "4 fields"},
		{"unknown scope", "laptops write " + secretA, `unknown scope "write"`},
		{"empty scope", "laptops read,," + secretA[:0] + " " + secretA, `unknown scope ""`},
		{"short secret", "laptops read 0123456789abcde", "16 to 512"},
		{"long secret", "laptops read " + long, "16 to 512"},
		{"quote in secret", "laptops read \"123456789abcdef0", "may hold only"},
		{"bad name", "lap/tops read " + secretA, "only letters"},
		{"second line", "a read " + secretA + "\nb read x", "tokens:2:"},
		{"long line", "a read " + strings.Repeat("b", maxLineLen), "longer than 1024"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("tokens", []byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			for _, f := range strings.Fields(tc.data) {
				if len(f) >= 12 && strings.Contains(err.Error(), f) {
					t.Errorf("the error quotes a secret: %v", err)
				}
			}
		})
	}
}

func TestScopes(t *testing.T) {
	for _, tc := range []struct {
		have, need Scope
		want       bool
	}{
		{Read, Read, true},
		{Push, Read, true},
		{Push, Push, true},
		{Read, Push, false},
		{Read, Metrics, false},
		{Metrics, Read, false},
		{Read | Metrics, Metrics, true},
		{0, Read, false},
		{Sign, Push, true},
		{Sign, Read, true},
		{Sign, Metrics, false},
		{Push, Sign, false},
		{Push | Sign, Sign, true},
	} {
		if got := tc.have.Allows(tc.need); got != tc.want {
			t.Errorf("%q allows %q: got %v, want %v", tc.have, tc.need, got, tc.want)
		}
	}
	for _, list := range []string{"push,metrics", "push,sign", "sign"} {
		if s, err := ParseScopes(list); err != nil || s.String() != list {
			t.Errorf("round trip of %q: %q %v", list, s, err)
		}
	}
}

// FuzzParse checks that no input panics the parser, that every token it
// accepts is well-formed, and that no error quotes a secret field.
func FuzzParse(f *testing.F) {
	f.Add([]byte("laptops read " + secretA + "\n"))
	f.Add([]byte("# c\nci read,push " + secretB + "\nm metrics 0000000000000000"))
	f.Add([]byte("a b c d\n\x00\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tokens, err := Parse("f", data)
		if err != nil {
			for _, line := range strings.Split(string(data), "\n") {
				fields := strings.Fields(line)
				if len(fields) == 3 && len(fields[2]) >= MinSecretLen && strings.Contains(err.Error(), fields[2]) {
					t.Fatalf("error quotes the secret: %v", err)
				}
			}
			return
		}
		if len(tokens) == 0 {
			t.Fatal("no error and no token")
		}
		for _, tok := range tokens {
			if tok.Scopes == 0 || checkName(tok.Name) != nil {
				t.Fatalf("accepted a malformed token %q %q", tok.Name, tok.Scopes)
			}
		}
	})
}
