package localstore

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

// WriteListing writes the .ls listing of storePath: the JSON that Nix
// writes next to NARs with write-nar-listing, {"version":1,"root":NODE},
// where a NODE is {"type":"regular","size":N[,"executable":true],"narOffset":N},
// {"type":"symlink","target":S} or {"type":"directory","entries":{NAME:NODE...}}.
// narOffset is where the file's contents start in the NAR.
func (s *Store) WriteListing(w io.Writer, storePath string) error {
	if err := checkStorePath(storePath); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	l := &listing{w: bw}
	d := &dumper{ls: l}
	bw.WriteString(`{"version":1,"root":`)
	if err := d.dump(s.file(storePath)); err != nil {
		return fmt.Errorf("list %s: %w", storePath, err)
	}
	bw.WriteString("}")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("list %s: %w", storePath, err)
	}
	return nil
}

// listing writes the JSON of the nodes a dumper visits. Write errors stick
// in the bufio.Writer and surface at Flush.
type listing struct {
	w     *bufio.Writer
	first []bool // per open directory: no entry written yet
	num   []byte
}

func (l *listing) regular(size int64, executable bool, narOffset int64) {
	l.w.WriteString(`{"type":"regular","size":`)
	l.int(size)
	if executable {
		l.w.WriteString(`,"executable":true`)
	}
	l.w.WriteString(`,"narOffset":`)
	l.int(narOffset)
	l.w.WriteByte('}')
}

func (l *listing) symlink(target string) {
	l.w.WriteString(`{"type":"symlink","target":`)
	l.str(target)
	l.w.WriteByte('}')
}

func (l *listing) beginDirectory() {
	l.w.WriteString(`{"type":"directory","entries":{`)
	l.first = append(l.first, true)
}

func (l *listing) entry(name string) {
	top := len(l.first) - 1
	if !l.first[top] {
		l.w.WriteByte(',')
	}
	l.first[top] = false
	l.str(name)
	l.w.WriteByte(':')
}

func (l *listing) endDirectory() {
	l.first = l.first[:len(l.first)-1]
	l.w.WriteString("}}")
}

func (l *listing) int(v int64) {
	l.num = strconv.AppendInt(l.num[:0], v, 10)
	l.w.Write(l.num)
}

// str quotes s the way Nix's JSON writer does: only '"', '\\' and control
// characters are escaped; other bytes, UTF-8 or not, pass through.
func (l *listing) str(s string) {
	const hex = "0123456789abcdef"
	l.w.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			l.w.WriteByte('\\')
			l.w.WriteByte(c)
		case c == '\n':
			l.w.WriteString(`\n`)
		case c == '\r':
			l.w.WriteString(`\r`)
		case c == '\t':
			l.w.WriteString(`\t`)
		case c < 0x20:
			l.w.WriteString(`\u00`)
			l.w.WriteByte(hex[c>>4])
			l.w.WriteByte(hex[c&15])
		default:
			l.w.WriteByte(c)
		}
	}
	l.w.WriteByte('"')
}
