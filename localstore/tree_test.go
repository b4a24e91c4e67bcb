package localstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/nar"
	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
)

func execCommand(env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stderr = os.Stderr
	return cmd
}

// entry describes one file system object of a synthetic tree.
type entry struct {
	path   string // relative to the store path; "" is the store path itself
	kind   byte   // 'f' file, 'x' executable, 'l' symlink, 'd' directory
	data   string // file contents or symlink target
	size   int    // when > 0, the file gets size pseudo-random bytes instead of data
	exists bool
}

// makeTree creates entries (parents first) under root/nix/store/<hash>-name
// and returns the logical store path.
func makeTree(t *testing.T, root, name string, entries []entry) string {
	t.Helper()
	storePath := "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-" + name
	base := filepath.Join(root, storePath)
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		p := filepath.Join(base, e.path)
		var err error
		switch e.kind {
		case 'f', 'x':
			data := []byte(e.data)
			if e.size > 0 {
				data = pseudoRandom(e.size)
			}
			mode := os.FileMode(0o644)
			if e.kind == 'x' {
				mode = 0o755
			}
			if err = os.WriteFile(p, data, mode); err == nil {
				err = os.Chmod(p, mode)
			}
		case 'l':
			err = os.Symlink(e.data, p)
		case 'd':
			err = os.Mkdir(p, 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return storePath
}

func pseudoRandom(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// Trees Nix's own fixtures do not cover: top-level symlinks and
// executables, sizes around the padding and the inline limit, names that
// need JSON escaping, and byte-order sorting.
var trees = []struct {
	name    string
	entries []entry
}{
	{"empty-file", []entry{{kind: 'f'}}},
	{"exec-file", []entry{{kind: 'x', data: "#!/bin/sh\n"}}},
	{"top-symlink", []entry{{kind: 'l', data: "/nix/store/does-not-exist"}}},
	{"empty-dir", []entry{{kind: 'd'}}},
	{"sizes", []entry{
		{kind: 'd'},
		{path: "s1", kind: 'f', data: "a"},
		{path: "s7", kind: 'f', data: "1234567"},
		{path: "s8", kind: 'f', data: "12345678"},
		{path: "s9", kind: 'x', data: "123456789"},
		{path: "inline-1", kind: 'f', size: inlineMax - 1},
		{path: "inline", kind: 'x', size: inlineMax},
		{path: "inline+1", kind: 'f', size: inlineMax + 1},
		{path: "big", kind: 'f', size: 300001},
	}},
	{"names", []entry{
		{kind: 'd'},
		{path: "B", kind: 'f', data: "upper"},
		{path: "a", kind: 'd'},
		{path: "a/deep", kind: 'd'},
		{path: "a/deep/er", kind: 'd'},
		{path: "a/deep/er/file", kind: 'f', data: "deep"},
		{path: "a.b", kind: 'f', data: "dot"},
		{path: "a0", kind: 'l', data: "a/deep/er/file"},
		{path: "quote\"back\\slash", kind: 'f', data: "q"},
		{path: "tab\tnew\nline\x01", kind: 'f', data: "c"},
		{path: "ünïcödé", kind: 'f', data: "u"},
		{path: "up", kind: 'l', data: "../../../etc/passwd"},
		{path: "~", kind: 'd'},
	}},
}

func TestWriteNARTrees(t *testing.T) {
	nixtest.Require(t)
	env := nixtest.Env(t)
	root := t.TempDir()
	s := &Store{root: root}
	for _, tt := range trees {
		t.Run(tt.name, func(t *testing.T) {
			p := makeTree(t, root, tt.name, tt.entries)
			var got bytes.Buffer
			n, err := s.WriteNAR(&got, p)
			if err != nil {
				t.Fatal(err)
			}
			want := nixDump(t, env, filepath.Join(root, p))
			if !bytes.Equal(got.Bytes(), want) || n != int64(len(want)) {
				t.Errorf("WriteNAR differs from nix-store --dump: %d (returned %d) vs %d bytes", got.Len(), n, len(want))
			}
			var ls bytes.Buffer
			if err := s.WriteListing(&ls, p); err != nil {
				t.Fatal(err)
			}
			checkListing(t, ls.Bytes(), got.Bytes())
		})
	}
}

// lsNode is one node of a .ls listing.
type lsNode struct {
	Type       string             `json:"type"`
	Size       *int64             `json:"size"`
	Executable bool               `json:"executable"`
	NarOffset  int64              `json:"narOffset"`
	Target     string             `json:"target"`
	Entries    map[string]*lsNode `json:"entries"`
}

// checkListing checks a listing against the NAR it describes: the same
// objects, and every narOffset pointing at the file's contents.
func checkListing(t *testing.T, listing, narBytes []byte) {
	t.Helper()
	var doc struct {
		Version int     `json:"version"`
		Root    *lsNode `json:"root"`
	}
	dec := json.NewDecoder(bytes.NewReader(listing))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("listing is not valid JSON: %v\n%s", err, listing)
	}
	if doc.Version != 1 || doc.Root == nil {
		t.Fatalf("listing has version %d, root %v", doc.Version, doc.Root)
	}
	seen := 0
	nr, err := nar.NewReader(bytes.NewReader(narBytes))
	if err != nil {
		t.Fatal(err)
	}
	defer nr.Close()
	for {
		h, err := nr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen++
		node := doc.Root
		for _, part := range strings.Split(strings.TrimPrefix(h.Path, "/"), "/") {
			if part == "" {
				continue
			}
			if node = node.Entries[part]; node == nil {
				t.Fatalf("listing lacks %q", h.Path)
			}
		}
		switch h.Type {
		case nar.TypeRegular:
			contents, err := io.ReadAll(nr)
			if err != nil {
				t.Fatal(err)
			}
			if node.Type != "regular" || node.Size == nil || *node.Size != h.Size || node.Executable != h.Executable {
				t.Errorf("%s: listing %+v, NAR %+v", h.Path, node, h)
				continue
			}
			off := node.NarOffset
			if off < 8 || off+h.Size > int64(len(narBytes)) ||
				binary.LittleEndian.Uint64(narBytes[off-8:]) != uint64(h.Size) ||
				!bytes.Equal(narBytes[off:off+h.Size], contents) {
				t.Errorf("%s: narOffset %d does not point at the contents", h.Path, off)
			}
		case nar.TypeSymlink:
			if node.Type != "symlink" || node.Target != h.LinkTarget {
				t.Errorf("%s: listing %+v, NAR %+v", h.Path, node, h)
			}
		case nar.TypeDirectory:
			if node.Type != "directory" || node.Entries == nil {
				t.Errorf("%s: listing %+v, NAR %+v", h.Path, node, h)
			}
		}
	}
	if want := countNodes(doc.Root); seen != want {
		t.Errorf("NAR has %d objects, listing %d", seen, want)
	}
}

func countNodes(n *lsNode) int {
	c := 1
	for _, e := range n.Entries {
		c += countNodes(e)
	}
	return c
}

// The listing must be byte for byte what Nix writes with write-nar-listing.
func TestWriteListingMatchesNix(t *testing.T) {
	fx, dir, s := chrootStore(t)
	env := nixtest.Env(t)
	cache := filepath.Join(t.TempDir(), "cache")
	nixtest.Run(t, env, "nix", "copy", "--from", dir, "--to",
		"file://"+cache+"?compression=none&write-nar-listing=true", fx.Root)
	for _, p := range fx.Paths {
		t.Run(path.Base(p), func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(cache, hashPart(p)+".ls"))
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := s.WriteListing(&got, p); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("listing differs from Nix's\n got: %.300s\nwant: %.300s", got.Bytes(), want)
			}
			var narBuf bytes.Buffer
			if _, err := s.WriteNAR(&narBuf, p); err != nil {
				t.Fatal(err)
			}
			checkListing(t, got.Bytes(), narBuf.Bytes())
		})
	}
}

// A file that disappears between the directory read and its dump must fail
// the dump rather than produce a short NAR.
func TestWriteNARVanishingFile(t *testing.T) {
	root := t.TempDir()
	s := &Store{root: root}
	p := makeTree(t, root, "vanish", []entry{{kind: 'd'}, {path: "a", kind: 'f', size: inlineMax + 10}, {path: "b", kind: 'f', data: "b"}})
	w := &hookWriter{hook: func() { os.Remove(filepath.Join(root, p, "b")) }}
	if _, err := s.WriteNAR(w, p); err == nil {
		t.Errorf("WriteNAR succeeded although a file vanished")
	}
}

// hookWriter calls hook before its first write.
type hookWriter struct {
	hook func()
	done bool
}

func (w *hookWriter) Write(b []byte) (int, error) {
	if !w.done {
		w.done = true
		w.hook()
	}
	return len(b), nil
}
