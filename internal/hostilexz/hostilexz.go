// Package hostilexz builds xz files a hostile upstream could send: valid
// in every checksum, holding the genuine NAR, yet asking the decoder for
// a dictionary far beyond what any encoder writes.
package hostilexz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/ulikunitz/xz"
)

// DictCode4GiB is the LZMA2 dictionary size byte for 4 GiB - 1, the most
// the format can ask for.
const DictCode4GiB = 40

// HugeDict encodes nar as streams concatenated xz streams (with stream
// padding between them), each one block whose header asks for the
// dictionary dictCode names, header CRC recomputed. Every stream holds
// at least one byte of nar.
func HugeDict(nar []byte, streams int, dictCode byte) ([]byte, error) {
	if streams < 1 || streams > len(nar) {
		return nil, fmt.Errorf("cannot split %d bytes into %d streams", len(nar), streams)
	}
	var out bytes.Buffer
	part := (len(nar) + streams - 1) / streams
	for start := 0; start < len(nar); start += part {
		s, err := encode(nar[start:min(start+part, len(nar))])
		if err != nil {
			return nil, err
		}
		if err := patchDict(s, dictCode); err != nil {
			return nil, err
		}
		if start > 0 {
			out.Write(make([]byte, 4)) // stream padding
		}
		out.Write(s)
	}
	return out.Bytes(), nil
}

func encode(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := xz.WriterConfig{CheckSum: xz.CRC32}.NewWriter(&buf)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// patchDict rewrites the dictionary byte of the stream's first block
// header, which follows the 12-byte stream header, and its CRC32.
func patchDict(stream []byte, code byte) error {
	const at = 12
	if len(stream) < at+8 || stream[at] == 0 {
		return errors.New("stream has no block")
	}
	size := (int(stream[at]) + 1) * 4
	h := stream[at : at+size]
	flags := h[1]
	if flags&0x03 != 0 {
		return errors.New("block has more than one filter")
	}
	i := 2
	for _, present := range []bool{flags&0x40 != 0, flags&0x80 != 0} {
		if present {
			for h[i] >= 0x80 {
				i++
			}
			i++
		}
	}
	// Filter ID 0x21 (LZMA2), one byte of properties: the dictionary size.
	if h[i] != 0x21 || h[i+1] != 1 {
		return errors.New("block filter is not LZMA2")
	}
	h[i+2] = code
	binary.LittleEndian.PutUint32(h[size-4:], crc32.ChecksumIEEE(h[:size-4]))
	return nil
}
