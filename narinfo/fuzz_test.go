package narinfo

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
)

func addSeeds(f *testing.F, pattern string) {
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzParse(f *testing.F) {
	addSeeds(f, "*.narinfo")
	addSeeds(f, "nix28/*.narinfo")
	for _, s := range []string{
		minimal(glibcNar32, "FileHash: sha256-"+glibcB64+"\nFileSize: 9\nSystem: x\nCA: y\n"),
		minimal("sha256:"+glibcHex, "References: "+refA+"  "+refB+"\nDeriver: unknown-deriver\n"),
		"\r\n" + minimal(glibcB64, "X: a: b\r\nURL: dup\nSig: k:v\nSig: k:v\n"),
		"StorePath:" + glibcPath + "\nURL:u\nNarHash:" + glibcNar32 + "\nNarSize:1",
		"",
		"no colon\n",
	} {
		f.Add([]byte(s))
	}
	key := []signature.PublicKey{{Name: "cache.nixos.org-1", Data: make([]byte, 32)}}
	f.Fuzz(func(t *testing.T, in []byte) {
		n, err := ParseBytes(in)
		if err != nil {
			return
		}
		out := n.Bytes()
		if len(out) == 0 || out[len(out)-1] != '\n' || out[0] == '\n' ||
			bytes.Contains(out, []byte("\n\n")) || bytes.IndexByte(out, '\r') >= 0 {
			t.Fatalf("Bytes() = %q: blank line, \\r or no final newline", out)
		}
		back, err := ParseBytes(out)
		if err != nil {
			t.Fatalf("ParseBytes(Bytes()) error %v on %q", err, out)
		}
		if !reflect.DeepEqual(back, n) {
			t.Fatalf("round trip changed the narinfo:\n%+v\n%+v", n, back)
		}
		if again := back.Bytes(); !bytes.Equal(again, out) {
			t.Fatalf("Bytes() not stable:\n%q\n%q", out, again)
		}
		if _, err := n.Fingerprint(); err == nil && n.HashPart() == "" {
			t.Fatalf("fingerprint of a narinfo without hash part: %q", out)
		}
		n.Verify(key)
		n.Clone()
	})
}

func FuzzParseCacheInfo(f *testing.F) {
	f.Add([]byte("StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n"))
	f.Add([]byte("Priority: x\r\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := ParseCacheInfo(bytes.NewReader(in))
		if err != nil {
			return
		}
		back, err := ParseCacheInfo(bytes.NewReader(c.Bytes()))
		if err != nil {
			t.Fatalf("ParseCacheInfo(Bytes()) error %v on %q", err, c.Bytes())
		}
		if c.StoreDir == "" {
			c.StoreDir = DefaultStoreDir
		}
		if back != c {
			t.Fatalf("round trip: %+v, want %+v", back, c)
		}
	})
}
