package boundedxz

import (
	"bytes"
	"encoding/binary"
	"hash"
	"hash/crc32"
	"io"
)

// indexReader reads the index of a stream, counting and hashing it.
type indexReader struct {
	src io.ByteReader
	crc hash.Hash32
	n   int64
}

func (r *indexReader) ReadByte() (byte, error) {
	c, err := r.src.ReadByte()
	if err != nil {
		return 0, err
	}
	r.crc.Write([]byte{c})
	r.n++
	return c, nil
}

// readIndexAndFooter reads the index, whose indicator byte was read,
// compares it with the blocks decompressed and checks the stream footer.
func (x *Reader) readIndexAndFooter() error {
	ir := &indexReader{src: x.src, crc: crc32.NewIEEE(), n: 1}
	ir.crc.Write([]byte{0})
	count, err := readVarint(ir)
	if err != nil {
		return err
	}
	// Compared before reading the records: a count in the index cannot
	// make anything loop longer than the stream had blocks.
	if count != x.blocks.count {
		return formatError("index lists %d blocks, the stream has %d", count, x.blocks.count)
	}
	listed := newRecords()
	for range count {
		unpadded, err := readVarint(ir)
		if err != nil {
			return err
		}
		uncompressed, err := readVarint(ir)
		if err != nil {
			return err
		}
		listed.add(int64(unpadded), int64(uncompressed))
	}
	if !listed.equal(x.blocks) {
		return formatError("index does not match the blocks")
	}
	for range padLen(ir.n) {
		if c, err := ir.ReadByte(); err != nil || c != 0 {
			return formatError("bad index padding")
		}
	}
	b := make([]byte, 4+footerLen)
	if _, err := io.ReadFull(x.src, b); err != nil {
		return unexpected(err)
	}
	if binary.LittleEndian.Uint32(b[:4]) != ir.crc.Sum32() {
		return formatError("index CRC mismatch")
	}
	return checkFooter(b[4:], x.flags, ir.n+4)
}

func checkFooter(f []byte, flags [2]byte, indexSize int64) error {
	if !bytes.Equal(f[10:], footerMagic) {
		return formatError("no stream footer")
	}
	if crc32.ChecksumIEEE(f[4:10]) != binary.LittleEndian.Uint32(f[:4]) {
		return formatError("stream footer CRC mismatch")
	}
	if (int64(binary.LittleEndian.Uint32(f[4:8]))+1)*4 != indexSize {
		return formatError("stream footer gives a wrong index size")
	}
	if !bytes.Equal(f[8:10], flags[:]) {
		return formatError("stream footer flags differ from the header")
	}
	return nil
}
