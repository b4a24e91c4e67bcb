package fill

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/internal/narcheck"
)

// fileCheck checks one NAR file as its bytes come in, the same way for a
// fill and for a pass-through stream: no more bytes than the file may
// have, FileHash when the narinfo has one, and NarHash and NarSize, the
// signed fields, from a check running beside the stream (nar). verify
// passes only once all of them matched: whoever holds back the last byte
// of the file releases it only then. FileHash alone proves nothing, as the
// signature does not cover it.
type fileCheck struct {
	spec     *FillSpec
	limit    int64 // the most bytes the file may have, -1 when unbounded
	n        int64
	fileHash hash.Hash
	nar      *narCheck
	pipe     *io.PipeWriter // feeds the NarHash check of a stream (checkStream)
}

// newFileCheck checks a file of size bytes (-1: unknown); the caller
// starts the NarHash check, which reports on nar.
func newFileCheck(spec *FillSpec, size int64) (*fileCheck, error) {
	k := &fileCheck{spec: spec, limit: size, nar: &narCheck{ch: make(chan error, 1)}}
	if k.limit < 0 {
		k.limit = maxFileSize(spec)
	}
	if spec.FileHash != nil {
		var err error
		if k.fileHash, err = narcheck.NewHash(spec.FileHash); err != nil {
			return nil, fmt.Errorf("%w: FileHash: %w", cache.ErrVerify, err)
		}
	}
	return k, nil
}

// checkStream starts the NarHash check on the bytes given to add, for a
// stream that keeps them nowhere else. add then waits for the decoder, so
// the stream goes at the pace of its check.
func (k *fileCheck) checkStream() {
	pr, pw := io.Pipe()
	k.pipe = pw
	go func() {
		err := verifyNar(k.spec, pr)
		pr.CloseWithError(err)
		k.nar.ch <- err
	}()
}

// add takes the next bytes of the file. An error fails the file.
func (k *fileCheck) add(p []byte) error {
	if k.limit >= 0 && k.n+int64(len(p)) > k.limit {
		return fmt.Errorf("%w: upstream sent more than %d bytes for a NAR of %d", cache.ErrVerify, k.limit, k.spec.NarSize)
	}
	k.n += int64(len(p))
	if k.fileHash != nil {
		k.fileHash.Write(p)
	}
	if k.pipe != nil {
		if _, err := k.pipe.Write(p); err != nil {
			return k.nar.wait(context.Background()) // it ended early: it failed
		}
	}
	// A NAR that fails to decode fails the file at once.
	if _, err := k.nar.poll(); err != nil && (k.pipe != nil || errors.Is(err, cache.ErrVerify)) {
		return err
	}
	return nil
}

// verify is called once the body ended where its size says: it checks
// FileHash, then waits for the NarHash check.
func (k *fileCheck) verify(ctx context.Context) error {
	if k.fileHash != nil {
		if err := narcheck.CheckDigest("FileHash", k.spec.FileHash, k.fileHash.Sum(nil)); err != nil {
			return err
		}
	}
	if k.pipe != nil {
		k.pipe.Close()
	}
	if err := k.nar.wait(ctx); err != nil {
		return narCheckFailed(ctx, err)
	}
	return nil
}

// abort ends the NarHash check of a stream that will not go on.
func (k *fileCheck) abort(err error) {
	if k.pipe != nil {
		k.pipe.CloseWithError(err)
	}
}
