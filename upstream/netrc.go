package upstream

import (
	"fmt"
	"os"
	"strings"
)

// netrc is a parsed netrc file: machine entries and an optional default.
type netrc struct {
	machines []netrcEntry
	def      *netrcEntry
}

type netrcEntry struct {
	machine, login, password string
}

func readNetrc(path string) (*netrc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("netrc file: %w", err)
	}
	n, err := parseNetrc(string(b))
	if err != nil {
		return nil, fmt.Errorf("netrc file %s: %w", path, err)
	}
	return n, nil
}

// parseNetrc reads the tokens machine, default, login, password, account
// and macdef (whose body runs to the next blank line and is skipped).
func parseNetrc(text string) (*netrc, error) {
	n := &netrc{}
	var cur *netrcEntry
	finish := func() {
		if cur == nil {
			return
		}
		if cur.machine == "" {
			if n.def == nil {
				n.def = cur
			}
		} else {
			n.machines = append(n.machines, *cur)
		}
		cur = nil
	}
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		fields := strings.Fields(lines[i])
		if len(fields) > 0 && strings.HasPrefix(fields[0], "#") {
			continue
		}
		for j := 0; j < len(fields); j++ {
			tok := fields[j]
			value := func() (string, error) {
				if j+1 >= len(fields) {
					return "", fmt.Errorf("line %d: %s without a value", i+1, tok)
				}
				j++
				return unquote(fields[j]), nil
			}
			switch tok {
			case "machine":
				finish()
				m, err := value()
				if err != nil {
					return nil, err
				}
				cur = &netrcEntry{machine: m}
			case "default":
				finish()
				cur = &netrcEntry{}
			case "login", "password", "account":
				v, err := value()
				if err != nil {
					return nil, err
				}
				if cur == nil {
					return nil, fmt.Errorf("line %d: %s outside a machine entry", i+1, tok)
				}
				switch tok {
				case "login":
					cur.login = v
				case "password":
					cur.password = v
				}
			case "macdef":
				finish()
				for i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "" {
					i++
				}
				j = len(fields)
			default:
				if strings.HasPrefix(tok, "#") {
					j = len(fields)
					continue
				}
				return nil, fmt.Errorf("line %d: unknown token %q", i+1, tok)
			}
		}
	}
	finish()
	return n, nil
}

// lookup returns the credentials for host (first matching machine, else default).
func (n *netrc) lookup(host string) (login, password string, ok bool) {
	for _, e := range n.machines {
		if strings.EqualFold(e.machine, host) {
			return e.login, e.password, true
		}
	}
	if n.def != nil {
		return n.def.login, n.def.password, true
	}
	return "", "", false
}

// unquote strips the double quotes curl allows around a value (login "").
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}
