package push

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
)

// cutReader ends with an error after n bytes, as a client that left.
type cutReader struct {
	r io.Reader
	n int
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if len(p) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

func TestPushBodyCutLeavesNothing(t *testing.T) {
	builder, builderPub := newKey(t, "builder-1")
	st := newFakeStore()
	u := newUploads(t, st, []signature.PublicKey{builderPub}, nil, nil)
	up := makeUpload(t, pathA, randomBytes(200000), builder)
	for _, body := range []io.Reader{
		&cutReader{r: bytes.NewReader(up.file), n: len(up.file) / 2}, // an error mid-way
		bytes.NewReader(up.file[:len(up.file)/2]),                    // a clean end, too early
	} {
		if err := u.PutNAR(up.name, body, int64(len(up.file))); err == nil {
			t.Fatal("a cut body was accepted")
		}
		if len(st.files) != 0 || st.open != 0 || u.HasNAR(up.name) {
			t.Fatalf("a cut body left %d files, %d open writers", len(st.files), st.open)
		}
	}
	if err := u.PutNarInfo(context.Background(), up.ni.Bytes(), Uploader{}); KindOf(err) != KindInvalid {
		t.Fatalf("narinfo after cut uploads: %v", err)
	}
	if err := u.send(up); err != nil {
		t.Fatalf("the whole body after cut ones: %v", err)
	}
}

// TestPushRehashesForgottenUploads checks a NAR whose measurements left
// memory: its stored file is hashed again when its narinfo comes, and a
// second path with the same NAR file (Nix skips sending it) is accepted.
func TestPushRehashesForgottenUploads(t *testing.T) {
	builder, builderPub := newKey(t, "builder-1")
	st := newFakeStore()
	u := newUploads(t, st, []signature.PublicKey{builderPub}, nil, func(o *Options) { o.MaxPending = 1 })
	nar := randomBytes(1000)
	a := makeUpload(t, pathA, nar, builder)
	b := makeUpload(t, pathB, nar, builder)
	other := makeUpload(t, pathC, randomBytes(10), builder)
	for _, up := range []*upload{a, other} { // other pushes a out of memory
		if err := u.send(up); err != nil {
			t.Fatal(err)
		}
	}
	for _, up := range []*upload{a, b} {
		if err := u.PutNarInfo(context.Background(), up.ni.Bytes(), Uploader{}); err != nil {
			t.Fatal(err)
		}
	}
	// A changed file under a committed name is never taken.
	if err := u.PutNAR(a.name, bytes.NewReader(other.file), int64(len(other.file))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(st.files[a.name], a.file) {
		t.Error("a committed NAR file was replaced")
	}
}

// TestPushSignsOnlyForUploadersWhoMay: an unsigned narinfo is refused
// from an uploader who may not have the server sign it, and taken and
// signed from one who may.
func TestPushSignsOnlyForUploadersWhoMay(t *testing.T) {
	server, serverPub := newKey(t, "server-1")
	_, builderPub := newKey(t, "builder-1")
	st := newFakeStore()
	u := newUploads(t, st, []signature.PublicKey{builderPub}, []signature.SecretKey{server}, nil)
	up := makeUpload(t, pathA, randomBytes(100), server)
	up.ni.Sigs = nil
	if err := u.send(up); err != nil {
		t.Fatal(err)
	}
	err := u.PutNarInfo(context.Background(), up.ni.Bytes(), Uploader{Name: "ci"})
	if KindOf(err) != KindInvalid || !strings.Contains(err.Error(), "no signature by a key trusted for pushes") {
		t.Fatalf("unsigned narinfo from an uploader who may not sign: %v", err)
	}
	if len(st.narinfos) != 0 {
		t.Fatal("a refused narinfo was stored")
	}
	if err := u.PutNarInfo(context.Background(), up.ni.Bytes(), Uploader{Name: "ci", MaySign: true}); err != nil {
		t.Fatal(err)
	}
	got, _ := u.NarInfo(pathA[:32])
	if !got.NarInfo.Verify([]signature.PublicKey{serverPub}) {
		t.Errorf("not signed by the server: %v", got.NarInfo.Sigs)
	}
	if _, err := New(Options{Store: st}); KindOf(err) != KindConfig {
		t.Errorf("New without keys: %v", err)
	}
	// Without a key of its own, the server cannot sign for anyone.
	noKey := newUploads(t, newFakeStore(), []signature.PublicKey{builderPub}, nil, nil)
	if err := noKey.send(up); err != nil {
		t.Fatal(err)
	}
	if err := noKey.PutNarInfo(context.Background(), up.ni.Bytes(), Uploader{MaySign: true}); KindOf(err) != KindInvalid {
		t.Errorf("unsigned narinfo, a server without keys: %v", err)
	}
}

// TestPushForgetsRemovedNARs: a NAR file removed from the store after it
// was measured (an expired path) is asked for again, and a narinfo naming
// it is refused until it came again.
func TestPushForgetsRemovedNARs(t *testing.T) {
	builder, builderPub := newKey(t, "builder-1")
	st := newFakeStore()
	u := newUploads(t, st, []signature.PublicKey{builderPub}, nil, nil)
	up := makeUpload(t, pathA, randomBytes(100), builder)
	if err := u.send(up); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	delete(st.files, up.name)
	st.mu.Unlock()
	if u.HasNAR(up.name) {
		t.Error("HasNAR true for a removed NAR file")
	}
	if err := u.PutNarInfo(context.Background(), up.ni.Bytes(), Uploader{}); KindOf(err) != KindInvalid {
		t.Fatalf("narinfo of a removed NAR: %v", err)
	}
	if err := u.send(up); err != nil {
		t.Fatal(err)
	}
	if err := u.PutNarInfo(context.Background(), up.ni.Bytes(), Uploader{}); err != nil {
		t.Fatalf("narinfo once the NAR came again: %v", err)
	}
}
