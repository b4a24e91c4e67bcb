package server

import (
	"io"
	"net/http"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Local NAR compressions (Options.LocalCompression).
const (
	CompressionNone = "none"
	CompressionZstd = "zstd"
)

// zstdLevel is the level local NARs are compressed at on the fly: the
// fastest one keeps a 1 Gbit/s link full from one core on store contents
// (the default level takes about twice the CPU for a few percent less).
const zstdLevel = zstd.SpeedFastest

// zstdWindow bounds the memory of each encoder: a NAR request holds one
// for as long as its client reads, and the default window (8 MiB) would
// cost several times more per stalled client for little gain in ratio.
const zstdWindow = 1 << 20

// encoderPool keeps zstd encoders between requests: a new one allocates
// its tables and buffers, a pooled one is Reset onto the next response.
type encoderPool struct{ pool sync.Pool }

func (p *encoderPool) get(w io.Writer) *zstd.Encoder {
	if e, ok := p.pool.Get().(*zstd.Encoder); ok {
		e.Reset(w)
		return e
	}
	// One goroutine per request: concurrency comes from the requests,
	// and an encoder of concurrency 1 starts no goroutines of its own.
	// No frame checksum: Nix checks the NarHash of what it decodes, and
	// the checksum costs a tenth of the compression time.
	e, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstdLevel), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(zstdWindow), zstd.WithEncoderCRC(false))
	if err != nil {
		panic(err) // constant options: a bad one is a programming error
	}
	return e
}

// put returns e, whether its stream was closed or abandoned: Reset
// starts a fresh one, and nil drops the reference to the response.
func (p *encoderPool) put(e *zstd.Encoder) {
	e.Reset(nil)
	p.pool.Put(e)
}

// writeLocalZstd writes the body of a local NAR compressed on the fly.
// The stream's end is written only once the whole NAR went in: a NAR that
// fails half-way cuts the connection instead, never ending a valid frame.
func (s *Server) writeLocalZstd(w http.ResponseWriter, r *http.Request, e *localEntry) error {
	lw := &lateHeader{ResponseWriter: w, status: http.StatusOK}
	enc := s.local.encoders.get(lw)
	defer s.local.encoders.put(enc)
	// Hiding ReadFrom keeps file bodies and the framing between them in
	// the same blocks: the encoder's ReadFrom would end a block per file.
	n, err := s.opts.Local.WriteNAR(writerOnly{enc}, e.storePath)
	if err == nil && n == int64(e.narSize) {
		if err = enc.Close(); err == nil {
			return nil
		}
	}
	return s.localNARFailed(r, e, lw, n, err)
}
