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
	p := &netrcParser{n: &netrc{}, lines: strings.Split(text, "\n")}
	for ; p.line < len(p.lines); p.line++ {
		p.fields = strings.Fields(p.lines[p.line])
		if len(p.fields) > 0 && strings.HasPrefix(p.fields[0], "#") {
			continue
		}
		for p.field = 0; p.field < len(p.fields); p.field++ {
			if err := p.token(p.fields[p.field]); err != nil {
				return nil, err
			}
		}
	}
	p.finish()
	return p.n, nil
}

// netrcParser walks the tokens of a netrc file; lines[line] is the current
// line and fields[field] its current token.
type netrcParser struct {
	n      *netrc
	cur    *netrcEntry // entry being read; nil before the first
	lines  []string
	line   int
	fields []string
	field  int
}

// token reads one token, and the value after it if it takes one.
func (p *netrcParser) token(tok string) error {
	switch tok {
	case "machine":
		p.finish()
		m, err := p.value(tok)
		if err != nil {
			return err
		}
		p.cur = &netrcEntry{machine: m}
	case "default":
		p.finish()
		p.cur = &netrcEntry{}
	case "login", "password", "account":
		return p.credential(tok)
	case "macdef":
		p.finish()
		for p.line+1 < len(p.lines) && strings.TrimSpace(p.lines[p.line+1]) != "" {
			p.line++
		}
		p.field = len(p.fields)
	default:
		if !strings.HasPrefix(tok, "#") {
			return fmt.Errorf("line %d: unknown token %q", p.line+1, tok)
		}
		p.field = len(p.fields) // the rest of the line is a comment
	}
	return nil
}

// credential reads login, password or account (which is ignored) of the
// current entry.
func (p *netrcParser) credential(tok string) error {
	v, err := p.value(tok)
	if err != nil {
		return err
	}
	if p.cur == nil {
		return fmt.Errorf("line %d: %s outside a machine entry", p.line+1, tok)
	}
	switch tok {
	case "login":
		p.cur.login = v
	case "password":
		p.cur.password = v
	}
	return nil
}

// value consumes and returns the token after tok, on the same line.
func (p *netrcParser) value(tok string) (string, error) {
	if p.field+1 >= len(p.fields) {
		return "", fmt.Errorf("line %d: %s without a value", p.line+1, tok)
	}
	p.field++
	return unquote(p.fields[p.field]), nil
}

// finish files the current entry: the first default wins, machines are kept
// in order.
func (p *netrcParser) finish() {
	if p.cur == nil {
		return
	}
	if p.cur.machine == "" {
		if p.n.def == nil {
			p.n.def = p.cur
		}
	} else {
		p.n.machines = append(p.n.machines, *p.cur)
	}
	p.cur = nil
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
