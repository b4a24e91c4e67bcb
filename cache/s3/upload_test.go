package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

const testKey = "0123456789abcdfghijklmnpqrsvwxyz-test.nar"

func testData(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*7 + i>>13)
	}
	return b
}

// bucketObjects lists every object of the bucket.
func bucketObjects(t *testing.T, s *Store) []string {
	t.Helper()
	var keys []string
	for obj := range s.client.ListObjectsIter(context.Background(), s.opts.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		if obj.Key != cacheInfoKey {
			keys = append(keys, obj.Key)
		}
	}
	return keys
}

// incompleteUploads lists the multipart uploads under way.
func incompleteUploads(t *testing.T, s *Store) []minio.ObjectMultipartInfo {
	t.Helper()
	var uploads []minio.ObjectMultipartInfo
	for u := range s.client.ListIncompleteUploads(context.Background(), s.opts.Bucket, "", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		uploads = append(uploads, u)
	}
	return uploads
}

func TestMultipartCommit(t *testing.T) {
	s := openStore(t, startGateway(t).newBucket(t))
	data := testData(2*minPartSize + 12345)
	w, err := s.CreateFile(testKey)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel()
	for off := 0; off < len(data); off += 100_000 {
		if _, err := w.Write(data[off:min(off+100_000, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.StatFile(testKey); !isNotExist(err) {
		t.Errorf("StatFile before Commit: %v, want fs.ErrNotExist", err)
	}
	if n := len(incompleteUploads(t, s)); n != 1 {
		t.Errorf("%d uploads under way before Commit, want 1", n)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	r, err := s.OpenFile(testKey)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) || r.Size() != int64(len(data)) {
		t.Fatalf("read %d bytes (size %d), %v; want %d", len(got), r.Size(), err, len(data))
	}
	if u := incompleteUploads(t, s); len(u) != 0 {
		t.Errorf("uploads left after Commit: %+v", u)
	}
}

func TestCancelLeavesNothing(t *testing.T) {
	s := openStore(t, startGateway(t).newBucket(t))
	w, err := s.CreateFile(testKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(testData(2*minPartSize + 1)); err != nil {
		t.Fatal(err)
	}
	if n := len(incompleteUploads(t, s)); n != 1 {
		t.Errorf("%d uploads under way before Cancel, want 1", n)
	}
	w.Cancel()
	w.Cancel()
	if err := w.Commit(); err == nil {
		t.Error("Commit after Cancel succeeded")
	}
	if objs := bucketObjects(t, s); len(objs) != 0 {
		t.Errorf("objects after Cancel: %v", objs)
	}
	if u := incompleteUploads(t, s); len(u) != 0 {
		t.Errorf("uploads left after Cancel: %+v", u)
	}
}

// faultProxy stands in front of the gateway and fails UploadPart requests
// for which fail returns true (n counts them from 1).
func faultProxy(t *testing.T, endpoint string, fail func(n int64) bool) string {
	t.Helper()
	target, _ := url.Parse("http://" + endpoint)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var parts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.Method == http.MethodPut && q.Has("partNumber") && q.Has("uploadId") && fail(parts.Add(1)) {
			io.Copy(io.Discard, r.Body)
			rw.Header().Set("Content-Type", "application/xml")
			rw.WriteHeader(http.StatusInternalServerError)
			io.WriteString(rw, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>`)
			return
		}
		proxy.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func TestPartFailureLeavesNothing(t *testing.T) {
	g := startGateway(t)
	direct := openStore(t, g.newBucket(t))
	opts := g.options(direct.opts.Bucket)
	opts.Endpoint = faultProxy(t, g.endpoint, func(n int64) bool { return n >= 2 })
	opts.MaxRetries = 1
	s := openStore(t, opts)

	w, err := s.CreateFile(testKey)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel()
	data := testData(3*minPartSize + 1)
	for off := 0; off < len(data); off += 1 << 20 {
		if _, err := w.Write(data[off:min(off+1<<20, len(data))]); err != nil {
			break // the failure of a part shows on a later Write, or on Commit
		}
	}
	err = w.Commit()
	if !errors.Is(err, cache.ErrStorage) {
		t.Fatalf("Commit = %v, want an error wrapping cache.ErrStorage", err)
	}
	t.Logf("Commit: %v", err)
	if _, _, err := direct.StatFile(testKey); !isNotExist(err) {
		t.Errorf("StatFile after a failed Commit: %v, want fs.ErrNotExist", err)
	}
	if objs := bucketObjects(t, direct); len(objs) != 0 {
		t.Errorf("objects after a failed Commit: %v", objs)
	}
	if u := incompleteUploads(t, direct); len(u) != 0 {
		t.Errorf("uploads left after a failed Commit: %+v", u)
	}
}

func TestPartFailureRetried(t *testing.T) {
	g := startGateway(t)
	direct := openStore(t, g.newBucket(t))
	opts := g.options(direct.opts.Bucket)
	opts.Endpoint = faultProxy(t, g.endpoint, func(n int64) bool { return n == 2 })
	s := openStore(t, opts)
	data := testData(3*minPartSize + 1)
	w, err := s.CreateFile(testKey)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel()
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit after one failed part: %v", err)
	}
	r, err := direct.OpenFile(testKey)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v; want %d", len(got), err, len(data))
	}
}
