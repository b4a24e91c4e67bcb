package s3

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

func TestCleanStaleUploads(t *testing.T) {
	s := openStore(t, startGateway(t).newBucket(t))
	ctx := context.Background()
	if _, err := s.core.NewMultipartUpload(ctx, s.opts.Bucket, objectOfKey(testKey), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	other, err := s.core.NewMultipartUpload(ctx, s.opts.Bucket, "elsewhere/x", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.core.AbortMultipartUpload(ctx, s.opts.Bucket, "elsewhere/x", other)

	if n, err := s.cleanStaleUploads(ctx, time.Now()); err != nil || n != 0 {
		t.Errorf("clean of a fresh upload: %d aborted, %v; want 0", n, err)
	}
	if u := incompleteUploads(t, s); len(u) != 2 {
		t.Fatalf("uploads after cleaning none: %+v", u)
	}
	n, err := s.cleanStaleUploads(ctx, time.Now().Add(s.opts.StaleUploadAge+time.Minute))
	if err != nil || n != 1 {
		t.Errorf("clean of a stale upload: %d aborted, %v; want 1", n, err)
	}
	u := incompleteUploads(t, s)
	if len(u) != 1 || u[0].UploadID != other {
		t.Errorf("uploads after cleaning: %+v; want only %s outside nar/", u, other)
	}
}

func TestCleanAtOpen(t *testing.T) {
	g := startGateway(t)
	opts := g.newBucket(t)
	first := openStore(t, opts)
	w, err := first.CreateFile(testKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(testData(minPartSize + 1)); err != nil {
		t.Fatal(err)
	}
	// first's writer is left open, as by a crash, once its first part is
	// up; a store that takes every upload for stale cleans it up when it
	// opens. (An abort that races an UploadPart may not stick: S3 says so,
	// and versitygw lets that part bring the upload back.)
	wr := w.(*writer)
	wr.mu.Lock()
	err = wr.waitPart()
	wr.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(incompleteUploads(t, first)); n != 1 {
		t.Fatalf("%d uploads under way, want 1", n)
	}
	opts.StaleUploadAge = time.Nanosecond
	openStore(t, opts)
	deadline := time.Now().Add(20 * time.Second)
	for len(incompleteUploads(t, first)) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the upload is still there 20 s after a store opened")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := w.Commit(); !errors.Is(err, cache.ErrStorage) {
		t.Errorf("Commit of an aborted upload: %v, want an error wrapping cache.ErrStorage", err)
	}
	if objs := bucketObjects(t, first); len(objs) != 0 {
		size, _, err := first.StatFile(testKey)
		t.Errorf("objects: %v (size %d, %v)", objs, size, err)
	}
}
