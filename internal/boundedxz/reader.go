// Package boundedxz decodes xz files as Nix writes them (LZMA2 blocks,
// any number of concatenated streams, stream padding) and refuses, before
// allocating it, a dictionary larger than any real encoder asks for.
//
// github.com/ulikunitz/xz allocates whatever dictionary a block header
// names, up to 4 GiB, for every block; its ReaderConfig.DictCap is a
// minimum, not a cap. Its LZMA2 decoder (package lzma) is used here for
// each block, with the framing, checks and index read by this package.
package boundedxz

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// MaxDict is the largest dictionary a block may ask for: 64 MiB, what
// xz -9 and -9e write, the most of any preset.
const MaxDict = 64 << 20

// dictPerOutputByte bounds, after the first block, the dictionary bytes
// allocated per byte decompressed: every block allocates its own, and
// many tiny blocks asking for 64 MiB each would cost far more work than
// their size. A multi-threaded xz writes blocks of three dictionaries.
const dictPerOutputByte = 64

// ErrDictTooLarge is returned, before any allocation, for a block asking
// for a dictionary over MaxDict, or for dictionaries out of proportion to
// the data decompressed so far.
var ErrDictTooLarge = errors.New("xz: dictionary too large")

// Reader decompresses an xz file.
type Reader struct {
	src       *bufio.Reader
	flags     [2]byte
	check     check
	blocks    records // of the current stream
	blk       *block  // nil between blocks
	allocated int64   // dictionary bytes allocated so far
	output    int64   // bytes decompressed so far
	err       error
}

// block is the block being decompressed.
type block struct {
	header blockHeader
	in     *countingReader
	lz     *lzma.Reader2
	sum    hash.Hash // nil for a stream without check
	out    int64
}

// NewReader reads the first stream header of r. The Reader buffers r: it
// reads ahead of what it decoded.
func NewReader(r io.Reader) (*Reader, error) {
	x := &Reader{src: bufio.NewReaderSize(r, 64<<10)}
	b := make([]byte, streamHeaderLen)
	if _, err := io.ReadFull(x.src, b); err != nil {
		return nil, unexpected(err)
	}
	if err := x.startStream(b); err != nil {
		return nil, err
	}
	return x, nil
}

// Read decompresses into p.
func (x *Reader) Read(p []byte) (int, error) {
	for x.err == nil {
		if x.blk == nil {
			x.err = x.nextBlock()
			continue
		}
		n, err := x.blk.read(p)
		x.output += int64(n)
		if err == io.EOF {
			err = x.endBlock()
		}
		x.err = err
		if n > 0 || len(p) == 0 {
			return n, nil
		}
	}
	return 0, x.err
}

func (x *Reader) startStream(header []byte) error {
	c, err := parseStreamHeader(header)
	if err != nil {
		return err
	}
	copy(x.flags[:], header[6:8])
	x.check, x.blocks = c, newRecords()
	return nil
}

// nextBlock reads the next block header, or the index, footer, padding
// and next stream header: it returns io.EOF at the end of the last stream.
func (x *Reader) nextBlock() error {
	c, err := x.src.ReadByte()
	if err != nil {
		return unexpected(err)
	}
	if c == 0 {
		if err := x.readIndexAndFooter(); err != nil {
			return err
		}
		return x.nextStream()
	}
	h, err := parseBlockHeader(x.src, c)
	if err != nil {
		return err
	}
	if h.dictSize > MaxDict {
		return fmt.Errorf("%w: a block asks for %d MiB, at most %d MiB are allowed",
			ErrDictTooLarge, h.dictSize>>20, MaxDict>>20)
	}
	if x.allocated > 0 && x.allocated+h.dictSize > MaxDict+dictPerOutputByte*x.output {
		return fmt.Errorf("%w: %d MiB of dictionaries for %d bytes of output",
			ErrDictTooLarge, (x.allocated+h.dictSize)>>20, x.output)
	}
	x.allocated += h.dictSize
	in := &countingReader{r: x.src}
	lz, err := lzma.Reader2Config{DictCap: int(max(h.dictSize, lzma.MinDictCap))}.NewReader2(in)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrFormat, err)
	}
	x.blk = &block{header: h, in: in, lz: lz}
	if x.check.size > 0 {
		x.blk.sum = x.check.new()
	}
	return nil
}

func (b *block) read(p []byte) (int, error) {
	n, err := b.lz.Read(p)
	if b.sum != nil {
		b.sum.Write(p[:n])
	}
	b.out += int64(n)
	if u := b.header.uncompressedSize; u >= 0 && b.out > u {
		return n, formatError("block longer than its header says")
	}
	if c := b.header.compressedSize; c >= 0 && b.in.n > c {
		return n, formatError("compressed block longer than its header says")
	}
	return n, err
}

// endBlock checks the sizes, padding and check value of the block just
// decompressed.
func (x *Reader) endBlock() error {
	b := x.blk
	x.blk = nil
	if !b.lz.EOS() {
		return formatError("LZMA2 data without end marker")
	}
	if c, u := b.header.compressedSize, b.header.uncompressedSize; (c >= 0 && c != b.in.n) || (u >= 0 && u != b.out) {
		return formatError("block sizes differ from its header")
	}
	tail := make([]byte, padLen(b.in.n)+int64(x.check.size))
	if _, err := io.ReadFull(x.src, tail); err != nil {
		return unexpected(err)
	}
	pad := len(tail) - x.check.size
	if !allZero(tail[:pad]) {
		return formatError("non-zero block padding")
	}
	if x.check.size > 0 && !bytes.Equal(tail[pad:], x.check.sum(b.sum)) {
		return formatError("block check mismatch")
	}
	x.blocks.add(b.header.size+b.in.n+int64(x.check.size), b.out)
	return nil
}

// nextStream skips stream padding and reads the next stream header.
func (x *Reader) nextStream() error {
	b := make([]byte, streamHeaderLen)
	for {
		n, err := io.ReadFull(x.src, b[:4])
		if n == 0 && err == io.EOF {
			return io.EOF
		}
		if err != nil {
			return unexpected(err)
		}
		if !allZero(b[:4]) {
			break
		}
	}
	if _, err := io.ReadFull(x.src, b[4:]); err != nil {
		return unexpected(err)
	}
	return x.startStream(b)
}

// records sums up a stream's blocks in constant memory, as they were
// read and as the index lists them.
type records struct {
	count uint64
	sum   hash.Hash
}

func newRecords() records { return records{sum: sha256.New()} }

func (r *records) add(unpadded, uncompressed int64) {
	r.count++
	r.sum.Write(binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, uint64(unpadded)), uint64(uncompressed)))
}

func (r *records) equal(o records) bool {
	return r.count == o.count && bytes.Equal(r.sum.Sum(nil), o.sum.Sum(nil))
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
