package narinfo

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const (
	glibcPath  = "/nix/store/5ka41zhii1bjss3f60rzd2npz9mxj060-glibc-2.27"
	glibcNar32 = "sha256:1wj2wa8hkb792q9qp6rck87315jldixjp7kaw1rz0r7sh09kwblx"
	glibcHex   = "9d2e3e1380fa64f073e06a9e2b7b6c5496300e9a2c9b8b1316e9ac0991e242f2"
	glibcB64   = "nS4+E4D6ZPBz4GqeK3tsVJYwDposm4sTFumsCZHiQvI="
	refA       = "3mylnm44n9vf4spbmwmcm85bpadrgmvb-ni-leaf"
	refB       = "58a0z2v9v0l68g9cdgbqqvnf451lc1sr-ni-top"
)

// minimal returns a narinfo text with the required fields, NarHash written
// as narHash, plus extra lines.
func minimal(narHash string, extra ...string) string {
	return "StorePath: " + glibcPath + "\nURL: nar/x.nar\nNarHash: " + narHash +
		"\nNarSize: 10\n" + strings.Join(extra, "")
}

func TestParseHashEncodings(t *testing.T) {
	for _, s := range []string{
		glibcNar32,
		"sha256:" + glibcHex,
		"sha256:" + glibcB64,
		"sha256-" + glibcB64,
		glibcNar32[len("sha256:"):],
		glibcHex,
		glibcB64,
	} {
		t.Run(s, func(t *testing.T) {
			n, err := ParseBytes([]byte(minimal(s, "FileHash: "+s+"\n")))
			if err != nil {
				t.Fatal(err)
			}
			if got := FormatHash(n.NarHash); got != glibcNar32 {
				t.Errorf("NarHash = %s, want %s", got, glibcNar32)
			}
			if got := FormatHash(n.FileHash); got != glibcNar32 {
				t.Errorf("FileHash = %s, want %s", got, glibcNar32)
			}
		})
	}
}

func TestParseHashErrors(t *testing.T) {
	for _, s := range []string{
		"",
		"sha256:",
		"sha256:abc",
		"sha257:" + glibcHex,
		"sha256-" + glibcNar32[len("sha256:"):], // SRI must be base64
		"sha256:" + strings.Replace(glibcHex, "9", "x", 1),
		"sha256:" + strings.Repeat("z", 52), // nixbase32 with non-zero padding
		":" + glibcHex,
	} {
		if h, err := ParseHash(s); err == nil {
			t.Errorf("ParseHash(%q) = %v, want error", s, FormatHash(h))
		}
	}
}

func TestParseTolerant(t *testing.T) {
	canonical := "StorePath: " + glibcPath + "\nURL: nar/x.nar\nCompression: xz\n" +
		"NarHash: " + glibcNar32 + "\nNarSize: 10\nReferences: " + refA + " " + refB + "\n" +
		"Sig: k1:AAAA\nSig: k2:BBBB\n"
	tests := []struct {
		name, in string
		want     string // Bytes() of the result; canonical when ""
	}{
		{"canonical", canonical, ""},
		{"unknown keys", "X-Foo: bar\n" + canonical + "Priority: 3\nNewField: a: b\n", ""},
		{"crlf and blank lines", "\r\n\n" + strings.ReplaceAll(canonical, "\n", "\r\n\r\n") + "\n\n", ""},
		{"no final newline", strings.TrimSuffix(canonical, "\n"), ""},
		{"duplicates: first wins", canonical + "URL: nar/other.nar\nCompression: zstd\nNarSize: 99\n" +
			"StorePath: /nix/store/3mylnm44n9vf4spbmwmcm85bpadrgmvb-ni-leaf\nReferences: \n", ""},
		{"sig repeats, exact duplicates dropped", canonical + "Sig: k1:AAAA\nSig: k3:CCCC\n",
			canonical + "Sig: k3:CCCC\n"},
		{"no space after colon", strings.Replace(canonical, "URL: ", "URL:", 1), ""},
		{"extra spaces", strings.Replace(canonical, "References: ", "References:   ", 1) + "  \n", ""},
		{"hex NarHash", strings.Replace(canonical, glibcNar32, "sha256:"+glibcHex, 1), ""},
		{"colon-space in value", strings.Replace(canonical, "nar/x.nar", "nar/x.nar?a=b: c", 1),
			strings.Replace(canonical, "nar/x.nar", "nar/x.nar?a=b: c", 1)},
		{"unknown-deriver", canonical + "Deriver: unknown-deriver\n", ""},
		{"empty optional fields", canonical + "FileHash: \nFileSize: \nDeriver: \nSystem: \nCA: \nSig: \n", ""},
		{"order does not matter", "Sig: k1:AAAA\nNarSize: 10\nReferences: " + refA + " " + refB +
			"\nURL: nar/x.nar\nSig: k2:BBBB\nNarHash: " + glibcNar32 + "\nCompression: xz\nStorePath: " + glibcPath, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := ParseBytes([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if want == "" {
				want = canonical
			}
			if got := string(n.Bytes()); got != want {
				t.Errorf("Bytes() =\n%q\nwant\n%q", got, want)
			}
		})
	}
}

func TestParseFields(t *testing.T) {
	in := minimal(glibcNar32,
		"FileHash: sha256:"+glibcHex+"\n",
		"FileSize: 7\n",
		"References:\n",
		"Deriver: nq8gcjq461ijxj2s28xjikyjan6xyq90-glibc-2.27.drv\n",
		"System: x86_64-linux\n",
		"CA: fixed:r:sha256:0l1v2mjy9ivhn9njfz2szzh7whr0vj02cysj0xhng9mdi3zfcnpa\n",
		"Compression: zstd\n")
	n, err := ParseBytes([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	nh, _ := ParseHash(glibcNar32)
	want := &NarInfo{
		StorePath:   glibcPath,
		URL:         "nar/x.nar",
		Compression: "zstd",
		FileHash:    nh,
		FileSize:    7,
		NarHash:     nh,
		NarSize:     10,
		Deriver:     "nq8gcjq461ijxj2s28xjikyjan6xyq90-glibc-2.27.drv",
		System:      "x86_64-linux",
		CA:          "fixed:r:sha256:0l1v2mjy9ivhn9njfz2szzh7whr0vj02cysj0xhng9mdi3zfcnpa",
	}
	if !reflect.DeepEqual(n, want) {
		t.Errorf("ParseBytes() =\n%+v\nwant\n%+v", n, want)
	}
	wantText := "StorePath: " + glibcPath + "\nURL: nar/x.nar\nCompression: zstd\n" +
		"FileHash: " + glibcNar32 + "\nFileSize: 7\nNarHash: " + glibcNar32 + "\nNarSize: 10\n" +
		"References: \nDeriver: nq8gcjq461ijxj2s28xjikyjan6xyq90-glibc-2.27.drv\nSystem: x86_64-linux\n" +
		"CA: fixed:r:sha256:0l1v2mjy9ivhn9njfz2szzh7whr0vj02cysj0xhng9mdi3zfcnpa\n"
	if got := string(n.Bytes()); got != wantText {
		t.Errorf("Bytes() =\n%q\nwant\n%q", got, wantText)
	}
}

func TestParseErrors(t *testing.T) {
	ok := minimal(glibcNar32)
	tests := []struct{ name, in, wantErr string }{
		{"empty", "", "narinfo: missing StorePath"},
		{"html", "<html><body>502 Bad Gateway</body></html>\n", "no \"Key: value\""},
		{"missing StorePath", strings.Replace(ok, "StorePath: ", "Store: ", 1), "narinfo: missing StorePath"},
		{"missing URL", strings.Replace(ok, "URL: ", "Url: ", 1), "narinfo: missing URL"},
		{"empty URL", strings.Replace(ok, "URL: nar/x.nar", "URL: ", 1), "narinfo: missing URL"},
		{"missing NarHash", strings.Replace(ok, "NarHash: ", "Nar: ", 1), "narinfo: missing NarHash"},
		{"missing NarSize", strings.Replace(ok, "NarSize: ", "Size: ", 1), "narinfo: missing NarSize"},
		{"zero NarSize", strings.Replace(ok, "NarSize: 10", "NarSize: 0", 1), "narinfo: NarSize is 0"},
		{"bad NarSize", strings.Replace(ok, "NarSize: 10", "NarSize: -1", 1), "NarSize: invalid size"},
		{"bad FileSize", ok + "FileSize: 1e3\n", "FileSize: invalid size"},
		{"bad NarHash", strings.Replace(ok, glibcNar32, "sha256:nope", 1), "NarHash: invalid hash"},
		{"bad FileHash", ok + "FileHash: md5:xyz\n", "FileHash: invalid hash"},
		{"relative StorePath", strings.Replace(ok, "/nix/store/", "", 1), "invalid store path"},
		{"StorePath in root", strings.Replace(ok, "/nix/store/", "/", 1), "invalid store path"},
		{"StorePath unclean dir", strings.Replace(ok, "/nix/store/", "/nix//store/", 1), "invalid store path"},
		{"StorePath bad hash", strings.Replace(ok, "5ka41zhii", "5ka41zhie", 1), "invalid store path"},
		{"StorePath bad name", strings.Replace(ok, "glibc-2.27", "glibc 2.27", 1), "invalid store path"},
		{"StorePath no name", strings.Replace(ok, "-glibc-2.27", "", 1), "invalid store path"},
		{"bad reference", ok + "References: " + refA + " /nix/store/" + refB + "\n", "invalid store path basename"},
		{"bad deriver", ok + "Deriver: foo.drv\n", "invalid store path basename"},
		{"control character", ok + "System: x86\x00\n", "control character"},
		{"inner carriage return", strings.Replace(ok, "nar/x.nar", "nar/x\r.nar", 1), "control character"},
		{"too large", ok + "X: " + strings.Repeat("a", MaxSize) + "\n", "larger than"},
		{"too many lines", ok + strings.Repeat("X: y\n", maxLines), "more than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Parse(strings.NewReader(tc.in))
			if err == nil {
				t.Fatalf("Parse() = %q, want error containing %q", n.Bytes(), tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Parse() error = %q, want it to contain %q", err, tc.wantErr)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse() error %v does not match ErrInvalid", err)
			}
		})
	}
}

func TestParseReadError(t *testing.T) {
	_, err := Parse(errReader{})
	if err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("Parse(failing reader) error = %v, want a read error", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestHashPart(t *testing.T) {
	tests := []struct{ path, want string }{
		{glibcPath, "5ka41zhii1bjss3f60rzd2npz9mxj060"},
		{"/other/store/" + refA, "3mylnm44n9vf4spbmwmcm85bpadrgmvb"},
		{"/nix/store/short-x", ""},
		{"", ""},
		{"/nix/store/5ka41zhii1bjss3f60rzd2npz9mxj06e-x", ""},
	}
	for _, tc := range tests {
		n := &NarInfo{StorePath: tc.path}
		if got := n.HashPart(); got != tc.want {
			t.Errorf("HashPart(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

func TestValidHashPart(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"5ka41zhii1bjss3f60rzd2npz9mxj060", true},
		{"5ka41zhii1bjss3f60rzd2npz9mxj06", false},
		{"5ka41zhii1bjss3f60rzd2npz9mxj0600", false},
		{"5ka41zhii1bjss3f60rzd2npz9mxj06e", false}, // e is not in the alphabet
		{"5KA41zhii1bjss3f60rzd2npz9mxj060", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := ValidHashPart(tc.s); got != tc.want {
			t.Errorf("ValidHashPart(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestBytesNeverBreaksLines(t *testing.T) {
	n, err := ParseBytes([]byte(minimal(glibcNar32)))
	if err != nil {
		t.Fatal(err)
	}
	n.System = "x86\r\n_64\x00-linux"
	n.Sigs = append(n.Sigs, "k:\nStorePath: /evil")
	got := string(n.Bytes())
	if strings.Contains(got, "\r") || strings.Contains(got, "\n\n") || strings.Count(got, "\n") != 7 {
		t.Errorf("Bytes() = %q: broken lines", got)
	}
	back, err := ParseBytes([]byte(got))
	if err != nil {
		t.Fatal(err)
	}
	if back.System != "x86_64-linux" || back.StorePath != glibcPath {
		t.Errorf("round trip = %+v", back)
	}
}

func TestClone(t *testing.T) {
	n, err := ParseBytes([]byte(minimal(glibcNar32, "FileHash: "+glibcNar32+"\nReferences: "+refA+"\nSig: k:AAAA\n")))
	if err != nil {
		t.Fatal(err)
	}
	c := n.Clone()
	if !reflect.DeepEqual(c, n) {
		t.Fatalf("Clone() = %+v, want %+v", c, n)
	}
	c.References[0] = refB
	c.Sigs[0] = "x:y"
	c.NarHash.Digest()[0] ^= 0xff
	c.FileHash.Digest()[0] ^= 0xff
	if n.References[0] != refA || n.Sigs[0] != "k:AAAA" || FormatHash(n.NarHash) != glibcNar32 ||
		FormatHash(n.FileHash) != glibcNar32 {
		t.Errorf("changing the clone changed the original: %+v", n)
	}
}
