package narinfo

import (
	"crypto/sha256"
	"testing"

	"github.com/nix-community/go-nix/pkg/nixhash"
)

func TestCheckCA(t *testing.T) {
	sum := sha256.Sum256([]byte("nar"))
	other := sha256.Sum256([]byte("other"))
	narHash := nixhash.MustNewHash(nixhash.SHA256, sum[:])
	h := func(b [32]byte, enc nixhash.Encoding) string {
		return nixhash.MustNewHash(nixhash.SHA256, b[:]).Format(enc, false)
	}
	for _, tc := range []struct {
		ca string
		ok bool
	}{
		{"", true},
		{"fixed:r:sha256:" + h(sum, nixhash.NixBase32), true},
		{"fixed:r:sha256:" + h(sum, nixhash.Base16), true},
		{"fixed:r:sha256:" + h(other, nixhash.NixBase32), false},
		{"fixed:r:sha256:garbage", false},
		{"fixed:sha256:" + h(other, nixhash.NixBase32), true},   // flat: the file, not the NAR
		{"text:sha256:" + h(other, nixhash.NixBase32), true},    // a text file's hash
		{"fixed:r:sha1:0mdqa9w1p6cmli6976v4wi0sw9r4p5pr", true}, // not comparable with a sha256
	} {
		ni := &NarInfo{StorePath: "/nix/store/00000000000000000000000000000000-x", NarHash: narHash, CA: tc.ca}
		if err := ni.CheckCA(); (err == nil) != tc.ok {
			t.Errorf("CA %q: err = %v, want ok = %v", tc.ca, err, tc.ok)
		}
	}
}
