package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/minio/minio-go/v7"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

// maxParts is S3's limit on the parts of one upload.
const maxParts = 10000

const narContentType = "application/x-nix-nar"

// CreateFile starts writing a NAR file. A file smaller than one part is
// sent whole by Commit; a larger one goes up as a multipart upload while it
// is written, one part uploading while the next fills, and becomes the
// object only when Commit completes the upload. Cancel aborts it.
func (s *Store) CreateFile(key string) (cache.FileWriter, error) {
	if !validKey(key) {
		return nil, fmt.Errorf("create nar %q: invalid key", key)
	}
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(s.ctx)
	return &writer{s: s, key: key, object: objectOfKey(key), ctx: ctx, cancel: cancel,
		buf: make([]byte, 0, s.opts.PartSize)}, nil
}

// writer is one NAR file on its way up. Its methods are for one goroutine,
// but Cancel may come from another: it first cancels the requests under way.
type writer struct {
	s      *Store
	key    string
	object string
	ctx    context.Context // cancelled by Cancel and by the store's Close
	cancel context.CancelFunc

	mu       sync.Mutex
	buf      []byte // the part being filled
	spare    []byte // the buffer of the part uploading, back once it is done
	uploadID string // "" until the first part is sent
	parts    []minio.CompletePart
	inflight chan partResult // the part uploading, nil when none
	err      error           // the first failure: every later call returns it
	done     bool            // committed, failed or cancelled
}

type partResult struct {
	part minio.CompletePart
	buf  []byte
	err  error
}

var errFinished = errors.New("nar writer already committed or cancelled")

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return 0, errFinished
	}
	n := 0
	for len(p) > 0 {
		if w.err != nil {
			return n, w.err
		}
		k := min(cap(w.buf)-len(w.buf), len(p))
		w.buf = append(w.buf, p[:k]...)
		p, n = p[k:], n+k
		if len(w.buf) == cap(w.buf) {
			w.err = w.sendPart()
		}
	}
	return n, w.err
}

// sendPart starts the upload of the full buffer, once the part before it is
// up, and gives the writer the other buffer to fill.
func (w *writer) sendPart() error {
	if w.uploadID == "" {
		ctx, cancel := context.WithTimeout(w.ctx, requestTimeout)
		defer cancel()
		id, err := w.s.core.NewMultipartUpload(ctx, w.s.opts.Bucket, w.object,
			minio.PutObjectOptions{ContentType: narContentType})
		if err != nil {
			return uploadErr("start upload of nar "+w.key, err)
		}
		w.uploadID = id
	}
	if err := w.waitPart(); err != nil {
		return err
	}
	number := len(w.parts) + 1
	if number > maxParts {
		return fmt.Errorf("upload nar %s: %w: over %d parts", w.key, cache.ErrStorage, maxParts)
	}
	data := w.buf
	if w.spare == nil {
		w.spare = make([]byte, 0, cap(data))
	}
	w.buf, w.spare = w.spare[:0], nil
	result := make(chan partResult, 1)
	w.inflight = result
	uploadID := w.uploadID
	go func() {
		ctx, cancel := context.WithTimeout(w.ctx, requestTimeout)
		defer cancel()
		part, err := w.s.core.PutObjectPart(ctx, w.s.opts.Bucket, w.object, uploadID, number,
			bytes.NewReader(data), int64(len(data)), minio.PutObjectPartOptions{})
		result <- partResult{part: minio.CompletePart{PartNumber: number, ETag: part.ETag}, buf: data, err: err}
	}()
	return nil
}

// waitPart waits for the part uploading, if any.
func (w *writer) waitPart() error {
	if w.inflight == nil {
		return nil
	}
	r := <-w.inflight
	w.inflight, w.spare = nil, r.buf
	if r.err != nil {
		return uploadErr(fmt.Sprintf("upload part %d of nar %s", r.part.PartNumber, w.key), r.err)
	}
	w.parts = append(w.parts, r.part)
	return nil
}

// Commit makes the file the object of its key, whole, at once. On failure
// nothing of it is visible, and the upload is aborted.
func (w *writer) Commit() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return errFinished
	}
	err := w.err
	if err == nil {
		err = w.finish()
	}
	if err != nil {
		w.abort()
	}
	w.done = true
	w.cancel()
	w.buf, w.spare = nil, nil
	return err
}

// finish sends what is left: all of the file in one PUT when no part went
// up, else the last part, then completes the upload.
func (w *writer) finish() error {
	ctx, cancel := context.WithTimeout(w.ctx, requestTimeout)
	defer cancel()
	if w.uploadID == "" {
		_, err := w.s.core.PutObject(ctx, w.s.opts.Bucket, w.object, bytes.NewReader(w.buf), int64(len(w.buf)),
			"", "", minio.PutObjectOptions{ContentType: narContentType})
		if err != nil {
			return uploadErr("put nar "+w.key, err)
		}
		return nil
	}
	if len(w.buf) > 0 {
		if err := w.sendPart(); err != nil {
			return err
		}
	}
	if err := w.waitPart(); err != nil {
		return err
	}
	_, err := w.s.core.CompleteMultipartUpload(ctx, w.s.opts.Bucket, w.object, w.uploadID, w.parts,
		minio.PutObjectOptions{ContentType: narContentType})
	if err != nil {
		return uploadErr("complete upload of nar "+w.key, err)
	}
	w.uploadID = "" // complete: nothing to abort
	return nil
}

// Cancel drops the file: the part uploading is stopped and the upload
// aborted. After Commit it does nothing.
func (w *writer) Cancel() {
	w.cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	w.done = true
	w.abort()
	w.buf, w.spare = nil, nil
}

// abort waits for the part uploading and aborts the upload, on a context
// of its own: the writer's may be cancelled already. An upload that cannot
// be aborted now is left to the stale upload cleaner.
func (w *writer) abort() {
	if w.inflight != nil {
		<-w.inflight
		w.inflight = nil
	}
	if w.uploadID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if err := w.s.core.AbortMultipartUpload(ctx, w.s.opts.Bucket, w.object, w.uploadID); err != nil && !notFound(err) {
		w.s.opts.Logger.Warn("abort nar upload", "key", w.key, "upload", w.uploadID, "err", err)
	}
	w.uploadID = ""
}

// uploadErr wraps a failed request of an upload: always cache.ErrStorage,
// also when the server no longer knows the upload (NoSuchUpload).
func uploadErr(what string, err error) error {
	return fmt.Errorf("%s: %w: %w", what, cache.ErrStorage, err)
}
