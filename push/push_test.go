package push

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// fakeStore keeps everything in memory and counts what it was asked.
type fakeStore struct {
	mu        sync.Mutex
	files     map[string][]byte
	narinfos  map[string]*Stored
	cancelled int
	open      int // writers neither committed nor cancelled
}

func newFakeStore() *fakeStore {
	return &fakeStore{files: map[string][]byte{}, narinfos: map[string]*Stored{}}
}

type fakeWriter struct {
	s    *fakeStore
	name string
	buf  bytes.Buffer
	done bool
}

func (w *fakeWriter) Write(p []byte) (int, error) { return w.buf.Write(p) }

func (w *fakeWriter) Commit() error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	w.s.files[w.name] = bytes.Clone(w.buf.Bytes())
	w.s.open--
	w.done = true
	return nil
}

func (w *fakeWriter) Cancel() {
	if w.done {
		return
	}
	w.done = true
	w.s.mu.Lock()
	w.s.cancelled++
	w.s.open--
	w.s.mu.Unlock()
}

func (s *fakeStore) CreateNAR(name string) (Writer, error) {
	s.mu.Lock()
	s.open++
	s.mu.Unlock()
	return &fakeWriter{s: s, name: name}, nil
}

type fakeFile struct{ *bytes.Reader }

func (fakeFile) Close() error             { return nil }
func (fakeFile) ModTime() time.Time       { return time.Time{} }
func (f fakeFile) Size() int64            { return f.Reader.Size() }
func (s *fakeStore) HasNAR(n string) bool { _, err := s.OpenNAR(n); return err == nil }

func (s *fakeStore) OpenNAR(name string) (NARFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.files[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return fakeFile{bytes.NewReader(b)}, nil
}

func (s *fakeStore) PutNarInfo(ni *narinfo.NarInfo, narName string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.narinfos[ni.HashPart()] = &Stored{NarInfo: ni, Raw: ni.Bytes(), NARName: narName}
	return nil
}

func (s *fakeStore) NarInfo(hashPart string) (*Stored, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.narinfos[hashPart]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return st, nil
}

func (s *fakeStore) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, b := range s.files {
		n += int64(len(b))
	}
	return n
}

// upload is one path as Nix would send it: the compressed NAR file, its
// name, and the narinfo text signed by key.
type upload struct {
	name string
	file []byte
	ni   *narinfo.NarInfo
}

func newKey(t *testing.T, name string) (signature.SecretKey, signature.PublicKey) {
	t.Helper()
	sec, _, err := narinfo.GenerateKey(name, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := narinfo.ParseSecretKey([]byte(sec))
	if err != nil {
		t.Fatal(err)
	}
	return k, k.ToPublicKey()
}

func makeUpload(t *testing.T, storeName string, nar []byte, key signature.SecretKey, refs ...string) *upload {
	t.Helper()
	enc, _ := zstd.NewWriter(nil)
	file := enc.EncodeAll(nar, nil)
	enc.Close()
	fileSum := sha256.Sum256(file)
	narSum := sha256.Sum256(nar)
	narHash, _ := nixhash.NewHash(nixhash.SHA256, narSum[:])
	fileHash, _ := nixhash.NewHash(nixhash.SHA256, fileSum[:])
	name := nixbase32.EncodeToString(fileSum[:]) + ".nar.zst"
	ni := &narinfo.NarInfo{
		StorePath: "/nix/store/" + storeName, URL: "nar/" + name, Compression: "zstd",
		FileHash: fileHash, FileSize: uint64(len(file)), NarHash: narHash, NarSize: uint64(len(nar)),
		References: refs,
	}
	if err := ni.Sign(key); err != nil {
		t.Fatal(err)
	}
	return &upload{name: name, file: file, ni: ni}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

const (
	pathA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a"
	pathB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b"
	pathC = "cccccccccccccccccccccccccccccccc-c"
)

func newUploads(t *testing.T, st Store, trusted []signature.PublicKey, sign []signature.SecretKey, tune func(*Options)) *Uploads {
	t.Helper()
	opts := Options{Store: st, Trusted: trusted, SignKeys: sign}
	if tune != nil {
		tune(&opts)
	}
	u, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (u *Uploads) send(up *upload) error {
	return u.PutNAR(up.name, bytes.NewReader(up.file), int64(len(up.file)))
}

func TestPushAcceptsAMatchingUpload(t *testing.T) {
	builder, builderPub := newKey(t, "builder-1")
	server, serverPub := newKey(t, "server-1")
	st := newFakeStore()
	u := newUploads(t, st, []signature.PublicKey{builderPub}, []signature.SecretKey{server}, nil)

	dep := makeUpload(t, pathB, randomBytes(5000), builder)
	top := makeUpload(t, pathA, randomBytes(70000), builder, pathA, pathB)
	for _, up := range []*upload{dep, top} {
		if err := u.send(up); err != nil {
			t.Fatal(err)
		}
		if !u.HasNAR(up.name) {
			t.Fatalf("HasNAR(%s) false after the upload", up.name)
		}
		if err := u.PutNarInfo(context.Background(), up.ni.Bytes(), Uploader{}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := u.NarInfo(pathA[:32])
	if err != nil {
		t.Fatal(err)
	}
	if want := URLPrefix + pathA[:32] + "/" + top.name; got.NarInfo.URL != want {
		t.Errorf("URL %q, want %q", got.NarInfo.URL, want)
	}
	if !got.NarInfo.Verify([]signature.PublicKey{serverPub}) || !got.NarInfo.Verify([]signature.PublicKey{builderPub}) {
		t.Errorf("stored narinfo lacks a signature: %v", got.NarInfo.Sigs)
	}
	f, err := u.OpenNAR(pathA[:32], top.name)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	if !bytes.Equal(b, top.file) {
		t.Error("served NAR file differs from the upload")
	}
	if _, err := u.OpenNAR(pathB[:32], top.name); err == nil {
		t.Error("a NAR file was served through another path's narinfo")
	}
}

func TestPushRefuses(t *testing.T) {
	builder, builderPub := newKey(t, "builder-1")
	stranger, _ := newKey(t, "stranger-1")
	server, _ := newKey(t, "server-1")
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		run   func(u *Uploads) error
		kind  Kind
		msg   string
		files int // NAR files committed after all
	}{
		{"NAR bytes changed, hashes kept", func(u *Uploads) error {
			up := makeUpload(t, pathA, randomBytes(3000), builder)
			other := makeUpload(t, pathA, randomBytes(3000), builder)
			if err := u.PutNAR(up.name, bytes.NewReader(other.file), int64(len(other.file))); err != nil {
				return err
			}
			return u.PutNarInfo(ctx, up.ni.Bytes(), Uploader{})
		}, KindInvalid, "FileHash does not match", 1},
		{"NarHash changed, FileHash dropped", func(u *Uploads) error {
			up := makeUpload(t, pathA, randomBytes(3000), builder)
			if err := u.send(up); err != nil {
				return err
			}
			up.ni.FileHash, up.ni.FileSize = nil, 0
			up.ni.NarHash = makeUpload(t, pathA, randomBytes(10), builder).ni.NarHash
			return u.PutNarInfo(ctx, up.ni.Bytes(), Uploader{})
		}, KindInvalid, "NarHash does not match", 1},
		{"narinfo whose NAR never came", func(u *Uploads) error {
			return u.PutNarInfo(ctx, makeUpload(t, pathA, randomBytes(100), builder).ni.Bytes(), Uploader{})
		}, KindInvalid, "was not uploaded", 0},
		{"unknown reference", func(u *Uploads) error {
			up := makeUpload(t, pathA, randomBytes(100), builder, pathC)
			if err := u.send(up); err != nil {
				return err
			}
			return u.PutNarInfo(ctx, up.ni.Bytes(), Uploader{})
		}, KindInvalid, "reference " + pathC, 1},
		{"signed by an untrusted key", func(u *Uploads) error {
			up := makeUpload(t, pathA, randomBytes(100), stranger)
			if err := u.send(up); err != nil {
				return err
			}
			return u.PutNarInfo(ctx, up.ni.Bytes(), Uploader{})
		}, KindInvalid, "no signature by a key trusted", 1},
		{"not zstd", func(u *Uploads) error {
			return u.PutNAR("0000000000000000000000000000000000000000000000000000.nar.zst", strings.NewReader("garbage!"), 8)
		}, KindInvalid, "does not decompress", 0},
		{"unknown compression", func(u *Uploads) error {
			return u.PutNAR("x.nar.lz4", strings.NewReader("x"), 1)
		}, KindInvalid, "is not", 0},
		{"no length", func(u *Uploads) error {
			return u.PutNAR("x.nar", strings.NewReader("x"), -1)
		}, KindLengthRequired, "length", 0},
		{"over the store's quota", func(u *Uploads) error {
			return u.PutNAR("x.nar", strings.NewReader("0123456789"), 10)
		}, KindQuota, "full", 0},
		{"decompresses past the upload limit", func(u *Uploads) error {
			up := makeUpload(t, pathA, make([]byte, 20000), builder)
			return u.send(up)
		}, KindTooLarge, "decompresses to over", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newFakeStore()
			u := newUploads(t, st, []signature.PublicKey{builderPub}, []signature.SecretKey{server}, func(o *Options) {
				o.MaxStoreSize = 9
				o.MaxUploadSize = 10000
				if tc.kind != KindQuota {
					o.MaxStoreSize = 0
				}
			})
			err := tc.run(u)
			if KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v (kind %d), want kind %d with %q", err, KindOf(err), tc.kind, tc.msg)
			}
			if len(st.narinfos) != 0 {
				t.Errorf("a narinfo was stored: %v", st.narinfos)
			}
			if len(st.files) != tc.files || st.open != 0 {
				t.Errorf("%d files committed, %d writers open; want %d, 0", len(st.files), st.open, tc.files)
			}
		})
	}
}
