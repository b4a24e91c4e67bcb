package upstream

import "testing"

func TestParseNetrc(t *testing.T) {
	text := `# comment
machine a.example login alice password pa
machine b.example
  login ""
  password tok
macdef init
  cd /pub

default login anon password guest
`
	n, err := parseNetrc(text)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ host, login, password string }{
		{"a.example", "alice", "pa"},
		{"B.example", "", "tok"},
		{"other.example", "anon", "guest"},
	}
	for _, tt := range tests {
		login, password, ok := n.lookup(tt.host)
		if !ok || login != tt.login || password != tt.password {
			t.Errorf("lookup(%s) = %q, %q, %v; want %q, %q", tt.host, login, password, ok, tt.login, tt.password)
		}
	}
	if _, err := parseNetrc("machine x login"); err == nil {
		t.Error("a login without a value was accepted")
	}
}

func FuzzParseNetrc(f *testing.F) {
	f.Add("machine a login b password c\ndefault password d\n")
	f.Add("macdef x\n  y\n\nmachine m password p")
	f.Add("# c\nmachine \"q\" login \"\" password p")
	f.Fuzz(func(t *testing.T, text string) {
		n, err := parseNetrc(text)
		if err != nil {
			return
		}
		n.lookup("cache.example")
	})
}
