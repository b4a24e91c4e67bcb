package fill

import (
	"errors"
	"fmt"
	"io"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

// fillErr is the error a follower of a fill gets from st. When the fill
// only stopped because its temp file refused a write, the follower is
// handed over to a pass-through stream instead (n.pass is then set and
// the error nil).
func (n *followNAR) fillErr(st *fillState) error {
	err := st.readErr()
	if err == nil || n.internal || n.follow == nil || !errors.Is(err, errTempWrite) || n.fill.c.ctx.Err() != nil {
		return err
	}
	if herr := n.handOver(st); herr != nil {
		return fmt.Errorf("%w; stream without storing: %w", err, herr)
	}
	return nil
}

// handOver makes n a pass-through stream of the file its fill could not
// store: the bytes the fill wrote come from n's own reader of the file
// (FileWriter.Follow: it keeps them after the writer's Cancel), the rest from the upstream, resumed where the
// file stopped. The whole file goes through the stream's check, and the
// client gets only what it did not have yet, so its last byte still waits
// for NarHash.
func (n *followNAR) handOver(st *fillState) error {
	f := n.fill
	p := f.c.newPassthrough(n.ctx, f.key, f.spec, "cache disk refused the temp file")
	p.started = true
	n.pass = p // from now on, also when it failed
	file := n.follow
	n.follow = nil // the stream's now
	rest, err := f.c.openResumingAt(p.ctx, f.key, f.spec, st.written)
	if err != nil {
		file.Close()
		p.fail(err)
		return err
	}
	p.skip = n.pos
	return p.begin(&prefixedBody{file: file, prefix: io.NewSectionReader(file, 0, st.written), rest: rest}, rest.size)
}

// prefixedBody reads the first bytes of a file from the store's reader
// of it, then the rest from the upstream.
type prefixedBody struct {
	file   cache.FileFollower
	prefix io.Reader
	rest   *resumingBody
}

func (b *prefixedBody) Read(p []byte) (int, error) {
	if b.prefix != nil {
		n, err := b.prefix.Read(p)
		if err == io.EOF {
			b.prefix, err = nil, nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	return b.rest.Read(p)
}

func (b *prefixedBody) Close() error {
	b.rest.Close()
	return b.file.Close()
}
