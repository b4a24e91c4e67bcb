package mirror

import (
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/fill"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// Re-encoding: the first narinfo of a path names the upstream's file, so
// its first client streams the upstream's bytes as they come; the cache
// makes a zstd (or uncompressed) copy during that download's NarHash
// check, and once the copy is committed the narinfo names it instead
// (URL, Compression, FileHash, FileSize: none of them signed, so every
// signature stays valid). Narinfos handed out before keep working: the
// entry remembers the upstream's file key, which is served from disk
// while the file is kept and fetched from the upstream again after.

// setReencode sets what spec, the fill of file name of entry e, re-encodes.
func (m *Mirror) setReencode(spec *fill.FillSpec, e *cache.NarInfoEntry, name string) {
	if name != e.Key {
		// The upstream's file for an old narinfo: as the upstream has it,
		// checked by NarHash alone (its FileHash is not kept). The copy
		// exists, so it is only marked superseded again.
		_, _, compression, _ := narinfo.ParseNarFileKey(name)
		spec.Compression, spec.FileHash, spec.FileSize = compression, nil, 0
		spec.Reencode = &fill.Reencode{Key: e.Key, Compression: e.NarInfo.Compression}
		return
	}
	ni := e.NarInfo
	if m.recompress == "" || e.UpstreamKey != "" || ni.Compression == m.recompress {
		return
	}
	key, err := narinfo.NarFileKey(ni.HashPart(), ni.NarHash, m.recompress)
	if err != nil {
		return
	}
	spec.Reencode = &fill.Reencode{Key: key, Compression: m.recompress, Level: m.recompressLevel,
		Done: func(fileHash *nixhash.Hash, fileSize uint64) { m.reencoded(e, key, fileHash, fileSize) }}
}

// reencoded makes the narinfo of e name its re-encoded file key, unless
// the narinfo changed meanwhile.
func (m *Mirror) reencoded(e *cache.NarInfoEntry, key string, fileHash *nixhash.Hash, fileSize uint64) {
	hashPart := e.NarInfo.HashPart()
	cur, err := m.cache.NarInfo(hashPart)
	if err != nil || cur.Key != e.Key || cur.UpstreamKey != "" {
		return
	}
	ni := cur.NarInfo.Clone()
	ni.URL, ni.Compression, ni.FileHash, ni.FileSize = URLPrefix+key, m.recompress, fileHash, fileSize
	if fileHash == nil {
		ni.FileSize = 0 // a narinfo tells both or neither
	}
	next := cache.NarInfoEntry{NarInfo: ni, Key: key, Upstream: cur.Upstream, UpstreamURL: cur.UpstreamURL, UpstreamKey: cur.Key}
	if err := m.cache.PutNarInfo(next); err != nil {
		m.log.Warn("store re-encoded narinfo", "hash", hashPart, "err", err)
	}
}

// reencodeHit starts the copy of a stored file that its narinfo still
// names: stored before re-encoding was on, or before a crash between the
// two commits.
func (m *Mirror) reencodeHit(name, hashPart string) {
	if m.recompress == "" {
		return
	}
	e, err := m.cache.NarInfo(hashPart)
	if err != nil || e.Key != name || e.UpstreamKey != "" {
		return
	}
	ni := e.NarInfo
	spec := &fill.FillSpec{Compression: ni.Compression, FileHash: ni.FileHash, FileSize: ni.FileSize,
		NarHash: ni.NarHash, NarSize: ni.NarSize}
	m.setReencode(spec, e, name)
	if spec.Reencode != nil {
		m.fills.ReencodeStored(name, spec)
	}
}
