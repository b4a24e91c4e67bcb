package localstore

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Rows no narinfo can be made of are ErrMalformed, not a generic failure.
func TestMalformedRows(t *testing.T) {
	fx, dir, s := chrootStore(t)
	db, err := sql.Open("sqlite", filepath.Join(dir, "nix/var/nix/db/db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows := map[string]string{
		fx.File:  `UPDATE ValidPaths SET hash = 'sha256:not-a-hash' WHERE path = ?`,
		fx.Empty: `UPDATE ValidPaths SET hash = 'md5:d41d8cd98f00b204e9800998ecf8427e' WHERE path = ?`,
		fx.Dir:   `UPDATE ValidPaths SET narSize = NULL WHERE path = ?`,
		fx.Refs:  `UPDATE ValidPaths SET narSize = 0 WHERE path = ?`,
		fx.Big:   `UPDATE ValidPaths SET narSize = -5 WHERE path = ?`,
	}
	for p, q := range rows {
		if _, err := db.Exec(q, p); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for p := range rows {
		_, err := s.PathInfo(context.Background(), hashPart(p))
		if !errors.Is(err, ErrMalformed) || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("PathInfo(%s) error = %v, want ErrMalformed", p, err)
		}
	}
	if _, err := s.PathInfo(context.Background(), hashPart(fx.Root)); err != nil {
		t.Errorf("an intact row: %v", err)
	}
}

// rangeSink keeps the last keep bytes of a NAR of size bytes, skipping
// file bodies before them unread.
type rangeSink struct {
	skip int64
	got  bytes.Buffer
}

func (w *rangeSink) SkipBody(n int64) int64 {
	k := min(w.skip, n)
	w.skip -= k
	return k
}

func (w *rangeSink) Write(p []byte) (int, error) {
	n := len(p)
	k := min(w.skip, int64(n))
	w.skip -= k
	w.got.Write(p[k:])
	return n, nil
}

// readBytes is what this process has read from files so far.
func readBytes(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/io")
	if err != nil {
		t.Skip("no /proc/self/io")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "rchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Skip("no rchar in /proc/self/io")
	return 0
}

// The last byte of a NAR whose bulk is one big file is written without
// reading that file.
func TestSkippedBodiesAreNotRead(t *testing.T) {
	root := t.TempDir()
	s := &Store{root: root}
	const big = 32 << 20
	p := makeTree(t, root, "skip", []entry{
		{path: "", kind: 'd'}, {path: "big", kind: 'f', size: big}, {path: "small", kind: 'f', data: "tail\n"},
	})
	var full bytes.Buffer
	size, err := s.WriteNAR(&full, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, keep := range []int64{1, 200, size - 1000} {
		w := &rangeSink{skip: size - keep}
		before := readBytes(t)
		n, err := s.WriteNAR(w, p)
		read := readBytes(t) - before
		if err != nil || n != size {
			t.Fatalf("WriteNAR: %d bytes, %v", n, err)
		}
		if !bytes.Equal(w.got.Bytes(), full.Bytes()[size-keep:]) {
			t.Errorf("last %d bytes differ", keep)
		}
		if keep < big/2 && read > big/2 {
			t.Errorf("last %d bytes: read %d bytes of files", keep, read)
		}
	}
}
