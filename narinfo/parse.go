package narinfo

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

const (
	// MaxSize is the largest narinfo Parse accepts.
	MaxSize = 1 << 20
	// maxLines bounds the work on hostile input; real narinfos have ~10.
	maxLines = 4096
)

// Fields that may appear once; later duplicates are ignored.
const (
	fStorePath = 1 << iota
	fURL
	fCompression
	fFileHash
	fFileSize
	fNarHash
	fNarSize
	fReferences
	fDeriver
	fSystem
	fCA
)

// Parse reads a narinfo. It is tolerant of what upstream caches serve:
// unknown keys are ignored, the first of duplicate keys wins (Sig lines
// accumulate), CRLF, blank lines and a missing final newline are accepted,
// and hashes may use any encoding. StorePath, URL, NarHash and a non-zero
// NarSize are required. Errors for malformed input match ErrInvalid.
func Parse(r io.Reader) (*NarInfo, error) {
	b, err := readLimited(r, MaxSize, "narinfo")
	if err != nil {
		return nil, err
	}
	return ParseBytes(b)
}

// ParseBytes is Parse on a byte slice; it does not retain b.
func ParseBytes(b []byte) (*NarInfo, error) {
	if len(b) > MaxSize {
		return nil, invalidf("narinfo: larger than %d bytes", MaxSize)
	}
	n := &NarInfo{}
	var seen int
	err := scanFields(b, maxLines, "narinfo", func(line int, key, value []byte) error {
		f := fieldBit(key)
		if f == 0 && string(key) != "Sig" {
			return nil // unknown keys are ignored
		}
		if seen&f != 0 {
			return nil // the first wins
		}
		seen |= f
		err := checkValue(value)
		if err == nil {
			err = n.set(key, value)
		}
		if err != nil {
			return invalidf("narinfo: line %d: %s: %v", line, key, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	switch {
	case n.StorePath == "":
		return nil, invalidf("narinfo: missing StorePath")
	case n.URL == "":
		return nil, invalidf("narinfo: missing URL")
	case n.NarHash == nil:
		return nil, invalidf("narinfo: missing NarHash")
	case seen&fNarSize == 0:
		return nil, invalidf("narinfo: missing NarSize")
	case n.NarSize == 0:
		return nil, invalidf("narinfo: NarSize is 0")
	}
	return n, nil
}

func fieldBit(key []byte) int {
	switch string(key) {
	case "StorePath":
		return fStorePath
	case "URL":
		return fURL
	case "Compression":
		return fCompression
	case "FileHash":
		return fFileHash
	case "FileSize":
		return fFileSize
	case "NarHash":
		return fNarHash
	case "NarSize":
		return fNarSize
	case "References":
		return fReferences
	case "Deriver":
		return fDeriver
	case "System":
		return fSystem
	case "CA":
		return fCA
	}
	return 0
}

// set stores one known field. Empty optional values count as absent.
func (n *NarInfo) set(key, value []byte) error {
	var err error
	switch string(key) {
	case "StorePath":
		n.StorePath = string(value)
		if _, _, ok := splitStorePath(n.StorePath); !ok {
			return fmt.Errorf("invalid store path %q", value)
		}
	case "URL":
		n.URL = string(value)
	case "Compression":
		n.Compression = string(value)
	case "FileHash":
		if len(value) > 0 {
			n.FileHash, err = ParseHash(string(value))
		}
	case "FileSize":
		if len(value) > 0 {
			n.FileSize, err = parseSize(value)
		}
	case "NarHash":
		n.NarHash, err = ParseHash(string(value))
	case "NarSize":
		n.NarSize, err = parseSize(value)
	case "References":
		n.References, err = parseReferences(value)
	case "Deriver":
		err = n.setDeriver(string(value))
	case "System":
		n.System = string(value)
	case "Sig":
		n.addSig(string(value))
	case "CA":
		n.CA = string(value)
	}
	return err
}

// setDeriver stores a deriver; "unknown-deriver", written by caches that
// know none, counts as absent.
func (n *NarInfo) setDeriver(s string) error {
	if s == "" || s == "unknown-deriver" {
		return nil
	}
	if !ValidBaseName(s) {
		return fmt.Errorf("invalid store path basename %q", s)
	}
	n.Deriver = s
	return nil
}

// addSig adds a signature once, whatever the number of Sig lines naming it.
func (n *NarInfo) addSig(s string) {
	if s != "" && !slices.Contains(n.Sigs, s) {
		n.Sigs = append(n.Sigs, s)
	}
}

func parseSize(v []byte) (uint64, error) {
	u, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q", v)
	}
	return u, nil
}

func parseReferences(v []byte) ([]string, error) {
	fields := strings.Fields(string(v))
	if len(fields) == 0 {
		return nil, nil
	}
	for _, r := range fields {
		if !ValidBaseName(r) {
			return nil, fmt.Errorf("invalid store path basename %q", r)
		}
	}
	return fields, nil
}
