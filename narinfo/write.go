package narinfo

import (
	"strconv"
)

// Bytes returns the narinfo as Nix writes it: fields in Nix's order, hashes
// as <algo>:<nixbase32>, one "Key: value\n" line each, a final newline and
// never a blank line. Empty optional fields are omitted; the References line
// is always written ("References: " when there are none, as Nix does).
// Control characters inside values are dropped so they cannot break lines.
func (n *NarInfo) Bytes() []byte {
	b := make([]byte, 0, n.sizeHint())
	b = appendField(b, "StorePath", n.StorePath)
	b = appendField(b, "URL", n.URL)
	if n.Compression != "" {
		b = appendField(b, "Compression", n.Compression)
	}
	if h := FormatHash(n.FileHash); h != "" {
		b = appendField(b, "FileHash", h)
	}
	if n.FileSize != 0 {
		b = append(b, "FileSize: "...)
		b = strconv.AppendUint(b, n.FileSize, 10)
		b = append(b, '\n')
	}
	if h := FormatHash(n.NarHash); h != "" {
		b = appendField(b, "NarHash", h)
	}
	b = append(b, "NarSize: "...)
	b = strconv.AppendUint(b, n.NarSize, 10)
	b = append(b, '\n')
	b = append(b, "References: "...)
	for i, r := range n.References {
		if i > 0 {
			b = append(b, ' ')
		}
		b = appendValue(b, r)
	}
	b = append(b, '\n')
	if n.Deriver != "" {
		b = appendField(b, "Deriver", n.Deriver)
	}
	if n.System != "" {
		b = appendField(b, "System", n.System)
	}
	for _, s := range n.Sigs {
		b = appendField(b, "Sig", s)
	}
	if n.CA != "" {
		b = appendField(b, "CA", n.CA)
	}
	return b
}

// sizeHint is a close upper estimate of the written size, to allocate once.
func (n *NarInfo) sizeHint() int {
	size := 384 + len(n.StorePath) + len(n.URL) + len(n.Compression) +
		len(n.Deriver) + len(n.System) + len(n.CA)
	for _, r := range n.References {
		size += len(r) + 1
	}
	for _, s := range n.Sigs {
		size += len(s) + 6
	}
	return size
}

func appendField(b []byte, key, value string) []byte {
	b = append(b, key...)
	b = append(b, ": "...)
	b = appendValue(b, value)
	return append(b, '\n')
}

// appendValue appends v without control characters other than tab; values
// that came from Parse never hold any.
func appendValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' {
			return appendClean(b, v)
		}
	}
	return append(b, v...)
}

func appendClean(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c >= 0x20 || c == '\t' {
			b = append(b, c)
		}
	}
	return b
}
