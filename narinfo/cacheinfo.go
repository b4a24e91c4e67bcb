package narinfo

import (
	"io"
	"strconv"
)

// DefaultStoreDir is the store directory of nearly every Nix installation.
const DefaultStoreDir = "/nix/store"

// maxCacheInfoSize bounds nix-cache-info; real ones are under 100 bytes.
const maxCacheInfoSize = 64 << 10

// CacheInfo is the content of /nix-cache-info.
type CacheInfo struct {
	// StoreDir is the store directory; "" means DefaultStoreDir when
	// writing, and is what ParseCacheInfo returns when the field is absent.
	StoreDir string
	// WantMassQuery lets clients query many narinfos up front.
	WantMassQuery bool
	// Priority orders substituters; lower wins. 0 when absent.
	Priority int
}

// Bytes returns the nix-cache-info text, e.g.
// "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n".
func (c CacheInfo) Bytes() []byte {
	dir := c.StoreDir
	if dir == "" {
		dir = DefaultStoreDir
	}
	b := make([]byte, 0, 64+len(dir))
	b = appendField(b, "StoreDir", dir)
	b = append(b, "WantMassQuery: "...)
	if c.WantMassQuery {
		b = append(b, '1')
	} else {
		b = append(b, '0')
	}
	b = append(b, "\nPriority: "...)
	b = strconv.AppendInt(b, int64(c.Priority), 10)
	return append(b, '\n')
}

// ParseCacheInfo reads nix-cache-info tolerantly: unknown keys are ignored,
// the first of duplicates wins, WantMassQuery is true only for "1" (as in
// Nix). A Priority that is not an integer is an error, as it is for Nix.
func ParseCacheInfo(r io.Reader) (CacheInfo, error) {
	b, err := readLimited(r, maxCacheInfoSize, "nix-cache-info")
	if err != nil {
		return CacheInfo{}, err
	}
	var c CacheInfo
	seen := map[string]bool{}
	err = scanFields(b, maxLines, "nix-cache-info", func(line int, key, value []byte) error {
		k := string(key)
		if seen[k] {
			return nil
		}
		seen[k] = true
		switch k {
		case "StoreDir":
			if checkValue(value) != nil {
				return invalidf("nix-cache-info: line %d: StoreDir: control character", line)
			}
			c.StoreDir = string(value)
		case "WantMassQuery":
			c.WantMassQuery = string(value) == "1"
		case "Priority":
			p, err := strconv.Atoi(string(value))
			if err != nil {
				return invalidf("nix-cache-info: line %d: Priority %q is not an integer", line, value)
			}
			c.Priority = p
		}
		return nil
	})
	if err != nil {
		return CacheInfo{}, err
	}
	return c, nil
}
