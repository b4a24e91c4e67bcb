package boundedxz

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
)

// The xz file format, version 1.2.1: what is read here and nothing more.
const (
	streamHeaderLen = 12
	footerLen       = 12
	lzma2FilterID   = 0x21
	// Block flags: the filter count, the two optional sizes and the
	// reserved bits that must be zero.
	filterCountMask     = 0x03
	compressedPresent   = 0x40
	uncompressedPresent = 0x80
	reservedBlockFlags  = 0x3c
	maxDictCode         = 40 // 4 GiB - 1
)

var (
	headerMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	footerMagic = []byte{'Y', 'Z'}
	crc64Table  = crc64.MakeTable(crc64.ECMA)
)

// ErrFormat wraps every way the input is not a valid xz file.
var ErrFormat = errors.New("xz: invalid file")

func formatError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// check is the integrity check a stream's blocks carry.
type check struct {
	size int
	new  func() hash.Hash
}

// checkFor returns the check a stream's flags name; the reserved ones
// are refused, as no encoder writes them.
func checkFor(flags []byte) (check, error) {
	if flags[0] != 0 {
		return check{}, formatError("reserved stream flags set")
	}
	switch flags[1] {
	case 0x00:
		return check{}, nil
	case 0x01:
		return check{4, func() hash.Hash { return crc32.NewIEEE() }}, nil
	case 0x04:
		return check{8, func() hash.Hash { return crc64.New(crc64Table) }}, nil
	case 0x0a:
		return check{32, sha256.New}, nil
	}
	return check{}, formatError("unsupported check type %#x", flags[1])
}

// sum is the check value as the file stores it: CRCs little-endian.
func (c check) sum(h hash.Hash) []byte {
	switch c.size {
	case 0:
		return nil
	case 4:
		return binary.LittleEndian.AppendUint32(nil, h.(hash.Hash32).Sum32())
	case 8:
		return binary.LittleEndian.AppendUint64(nil, h.(hash.Hash64).Sum64())
	}
	return h.Sum(nil)
}

// parseStreamHeader checks the 12 bytes that start a stream.
func parseStreamHeader(b []byte) (check, error) {
	if !bytes.Equal(b[:6], headerMagic) {
		return check{}, formatError("no stream header")
	}
	if crc32.ChecksumIEEE(b[6:8]) != binary.LittleEndian.Uint32(b[8:12]) {
		return check{}, formatError("stream header CRC mismatch")
	}
	return checkFor(b[6:8])
}

// blockHeader is what a block header says.
type blockHeader struct {
	size             int64 // of the header itself
	compressedSize   int64 // -1: not given
	uncompressedSize int64 // -1: not given
	dictSize         int64
}

// parseBlockHeader reads the header whose first byte, sizeByte (not 0),
// was already read. Only a single LZMA2 filter is accepted: the other
// filters are not decoded here, and Nix writes none of them.
func parseBlockHeader(r io.Reader, sizeByte byte) (blockHeader, error) {
	h := blockHeader{size: (int64(sizeByte) + 1) * 4}
	b := make([]byte, h.size)
	b[0] = sizeByte
	if _, err := io.ReadFull(r, b[1:]); err != nil {
		return h, unexpected(err)
	}
	body := b[:h.size-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(b[h.size-4:]) {
		return h, formatError("block header CRC mismatch")
	}
	flags := body[1]
	if flags&reservedBlockFlags != 0 {
		return h, formatError("reserved block flags set")
	}
	if flags&filterCountMask != 0 {
		return h, formatError("filters other than LZMA2 alone are not supported")
	}
	fields := bytes.NewReader(body[2:])
	var err error
	if h.compressedSize, err = optionalSize(fields, flags&compressedPresent != 0); err != nil {
		return h, err
	}
	if h.uncompressedSize, err = optionalSize(fields, flags&uncompressedPresent != 0); err != nil {
		return h, err
	}
	if h.dictSize, err = parseLZMA2Filter(fields); err != nil {
		return h, err
	}
	for fields.Len() > 0 {
		if c, _ := fields.ReadByte(); c != 0 {
			return h, formatError("non-zero block header padding")
		}
	}
	return h, nil
}

// parseLZMA2Filter reads the filter flags and returns the dictionary size
// they ask for.
func parseLZMA2Filter(r io.ByteReader) (int64, error) {
	id, err := readVarint(r)
	if err != nil {
		return 0, err
	}
	if id != lzma2FilterID {
		return 0, formatError("filter %#x is not supported", id)
	}
	if n, err := readVarint(r); err != nil || n != 1 {
		return 0, formatError("LZMA2 filter properties of %d bytes", n)
	}
	code, err := r.ReadByte()
	if err != nil {
		return 0, formatError("block header too short")
	}
	return dictSize(code)
}

// dictSize decodes the LZMA2 dictionary size byte: 2 or 3 times a power
// of two from 4 KiB up, and 40 for 4 GiB - 1.
func dictSize(code byte) (int64, error) {
	switch {
	case code > maxDictCode:
		return 0, formatError("LZMA2 dictionary size code %d", code)
	case code == maxDictCode:
		return 1<<32 - 1, nil
	}
	return int64(2|code&1) << (code/2 + 11), nil
}

func optionalSize(r io.ByteReader, present bool) (int64, error) {
	if !present {
		return -1, nil
	}
	n, err := readVarint(r)
	if err != nil {
		return 0, err
	}
	if n >= 1<<63 {
		return 0, formatError("block size overflow")
	}
	return int64(n), nil
}

// readVarint reads xz's multibyte integer: at most 9 bytes, no needless
// trailing zero byte.
func readVarint(r io.ByteReader) (uint64, error) {
	var x uint64
	for i := 0; i < 9; i++ {
		c, err := r.ReadByte()
		if err != nil {
			return 0, unexpected(err)
		}
		if i > 0 && c == 0 {
			return 0, formatError("overlong integer")
		}
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return x, nil
		}
	}
	return 0, formatError("integer over 63 bits")
}

// unexpected turns the end of the input inside a structure into
// io.ErrUnexpectedEOF; other errors (the source failing) pass as they are.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// padLen is how many zero bytes bring n to a multiple of four.
func padLen(n int64) int64 { return (4 - n%4) % 4 }
