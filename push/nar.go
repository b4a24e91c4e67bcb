package push

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
)

// PutNAR receives the NAR file name, of size bytes (-1 when unknown, which
// is refused), from body. The file is hashed and decompressed as it
// arrives, and committed once all of it came; a body that ends early
// leaves nothing behind. A file already committed under name is kept as it
// is (a narinfo may name it) and body is not read.
func (u *Uploads) PutNAR(name string, body io.Reader, size int64) error {
	if !ValidNARName(name) {
		return errorf(KindInvalid, "NAR name %q is not <hash>.nar, .nar.xz, .nar.zst or .nar.bz2", name)
	}
	if size < 0 {
		return errorf(KindLengthRequired, "NAR %s: the length must be given", name)
	}
	if size > u.opts.MaxUploadSize {
		return errorf(KindTooLarge, "NAR %s: %d bytes is over the %d bytes allowed", name, size, u.opts.MaxUploadSize)
	}
	if max := u.opts.MaxStoreSize; max > 0 && u.opts.Store.Size()+size > max {
		return errorf(KindQuota, "NAR %s: the pushed store is full (%d bytes allowed)", name, max)
	}
	if !u.pending.begin(name) {
		return errorf(KindConflict, "NAR %s is being uploaded already", name)
	}
	defer u.pending.end(name)
	if u.opts.Store.HasNAR(name) {
		return nil
	}
	w, err := u.opts.Store.CreateNAR(name)
	if err != nil {
		return fmt.Errorf("NAR %s: %w", name, err)
	}
	defer w.Cancel()
	comp, _ := compressionOf(name)
	rec, err := u.measure(comp, io.LimitReader(body, size), w)
	if err != nil {
		return fmt.Errorf("NAR %s: %w", name, err)
	}
	if rec.fileSize != uint64(size) {
		return fmt.Errorf("NAR %s: body ended after %d of %d bytes: %w", name, rec.fileSize, size, io.ErrUnexpectedEOF)
	}
	if err := w.Commit(); err != nil {
		return fmt.Errorf("NAR %s: commit: %w", name, err)
	}
	rec.name = name
	u.pending.put(rec)
	u.log.Debug("nar received", "name", name, "size", size, "nar_size", rec.narSize)
	return nil
}

// measure copies r into sink while it hashes it, and decompresses it to
// hash the NAR. A NAR that does not decompress, or decompresses to more
// than MaxUploadSize, is KindInvalid or KindTooLarge.
func (u *Uploads) measure(compression string, r io.Reader, sink io.Writer) (received, error) {
	fileHash := sha256.New()
	pr, pw := io.Pipe()
	done := make(chan narDigest, 1)
	go func() {
		d := hashNAR(compression, pr, u.opts.MaxUploadSize)
		// Unblocks the copy below when decoding stopped early.
		pr.CloseWithError(errDecoderDone)
		done <- d
	}()
	n, copyErr := io.Copy(io.MultiWriter(sink, fileHash, pw), r)
	pw.CloseWithError(copyErr) // nil: the decoder sees the end
	d := <-done
	switch {
	case KindOf(d.err) != 0:
		return received{}, d.err
	case copyErr != nil:
		return received{}, copyErr
	case d.err != nil:
		return received{}, d.err
	}
	return received{
		compression: compression,
		fileHash:    fileHash.Sum(nil),
		fileSize:    uint64(n),
		narHash:     d.sum,
		narSize:     uint64(d.size),
	}, nil
}

var errDecoderDone = errors.New("decoder stopped")

type narDigest struct {
	sum  []byte
	size int64
	err  error
}

// hashNAR decompresses r and hashes the result, then reads r to its end.
// Errors of r itself are returned as they are; bad content is KindInvalid.
func hashNAR(compression string, r io.Reader, limit int64) narDigest {
	src := &sourceReader{r: r}
	d, err := decoder(compression, src)
	if err != nil {
		if src.err != nil {
			return narDigest{err: src.err}
		}
		return narDigest{err: errorf(KindInvalid, "NAR does not decompress as %s: %v", compression, err)}
	}
	defer d.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(d, limit+1))
	switch {
	case src.err != nil:
		return narDigest{err: src.err}
	case err != nil:
		return narDigest{err: errorf(KindInvalid, "NAR does not decompress as %s: %v", compression, err)}
	case n > limit:
		return narDigest{err: errorf(KindTooLarge, "NAR decompresses to over %d bytes", limit)}
	}
	// Whatever follows the compressed stream is hashed with the file.
	if _, err := io.Copy(io.Discard, src); err != nil {
		return narDigest{err: err}
	}
	return narDigest{sum: h.Sum(nil), size: n}
}

// sourceReader remembers a failure of the reader under a decoder, which
// the decoder may report as corrupt input.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}
