package narinfo

import (
	"crypto/sha256"
	"testing"

	"github.com/nix-community/go-nix/pkg/nixhash"
)

func TestKnownFileSize(t *testing.T) {
	for _, c := range []struct {
		compression       string
		fileSize, narSize uint64
		want              uint64
	}{
		{"none", 0, 100, 100},
		{"none", 100, 100, 100},
		{"", 0, 100, 0}, // bzip2 to Nix, not uncompressed
		{"bzip2", 0, 100, 0},
		{"xz", 40, 100, 40},
		{"zstd", 0, 100, 0},
	} {
		if got := KnownFileSize(c.compression, c.fileSize, c.narSize); got != c.want {
			t.Errorf("KnownFileSize(%q, %d, %d) = %d, want %d", c.compression, c.fileSize, c.narSize, got, c.want)
		}
	}
}

func TestNarFileKey(t *testing.T) {
	d := sha256.Sum256([]byte("nar"))
	h := nixhash.MustNewHash(nixhash.SHA256, d[:])
	const hp = "0123456789abcdfghijklmnpqrsvwxyz"
	for comp, want := range map[string]string{"": "bzip2", "bzip2": "bzip2", "none": "none", "xz": "xz", "zstd": "zstd", "br": "br"} {
		key, err := NarFileKey(hp, h, comp)
		if err != nil {
			t.Fatal(err)
		}
		gotHP, gotH, gotComp, ok := ParseNarFileKey(key)
		if !ok || gotHP != hp || gotComp != want || FormatHash(gotH) != FormatHash(h) {
			t.Errorf("ParseNarFileKey(%q) = %q, %v, %q, %v", key, gotHP, gotH, gotComp, ok)
		}
	}
	for _, bad := range []string{"", hp + ".nar", hp + "-x.nar", hp + "-" + hp + hp + ".nar.rar", "../" + hp} {
		if _, _, _, ok := ParseNarFileKey(bad); ok {
			t.Errorf("ParseNarFileKey(%q) accepted", bad)
		}
	}
	if CanDecode("br") || !CanDecode("") || !CanDecode("xz") {
		t.Error("CanDecode table is off")
	}
}
