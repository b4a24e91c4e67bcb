package disk

import (
	"encoding/binary"
	"encoding/json"
	"errors"
)

// Records of the narinfo and nar buckets. A record is a version byte
// followed by its fields; the records of earlier versions are JSON objects,
// whose first byte is '{' (see migrate.go).
//
// narinfo, version 1:
//
//	0x01 | uvarint file size | key | upstream | upstream URL | upstream key | narinfo text
//
// where each string is a uvarint length then its bytes, and the narinfo
// text, as served, runs to the end. Its last read is kept apart, in the
// narinfo-atime bucket (touch.go).
//
// nar, version 1:
//
//	0x01 | uvarint size | 8-byte big-endian last access, unix nanos
const recordV1 = 1

// jsonRecordStart is the first byte of a record of the JSON format.
const jsonRecordStart = '{'

var errBadRecord = errors.New("unreadable index record")

type narInfoRecord struct {
	NarInfo     []byte // as served
	Key         string // NAR file key
	FileSize    uint64 // of the NAR file, 0 when unknown
	Upstream    string // name of the upstream it came from
	UpstreamURL string // NAR URL at that upstream
	UpstreamKey string // key of the upstream's file, when Key is a re-encoded copy
}

// encode returns the version 1 record of r.
func (r *narInfoRecord) encode() []byte {
	n := 1 + binary.MaxVarintLen64*5 + len(r.Key) + len(r.Upstream) + len(r.UpstreamURL) + len(r.UpstreamKey) + len(r.NarInfo)
	v := make([]byte, 0, n)
	v = append(v, recordV1)
	v = binary.AppendUvarint(v, r.FileSize)
	for _, s := range []string{r.Key, r.Upstream, r.UpstreamURL, r.UpstreamKey} {
		v = binary.AppendUvarint(v, uint64(len(s)))
		v = append(v, s...)
	}
	return append(v, r.NarInfo...)
}

// decodeNarInfoRecord reads a record of either format. The NarInfo of the
// result shares v's memory: copy v first when it lives in a transaction.
func decodeNarInfoRecord(v []byte) (narInfoRecord, error) {
	var r narInfoRecord
	if len(v) > 0 && v[0] == jsonRecordStart {
		var j jsonNarInfoRecord
		if err := json.Unmarshal(v, &j); err != nil {
			return r, err
		}
		return j.record(), nil
	}
	d := recordReader{v: v}
	if d.byte() != recordV1 {
		return r, errBadRecord
	}
	r.FileSize = d.uvarint()
	r.Key, r.Upstream, r.UpstreamURL, r.UpstreamKey = d.str(), d.str(), d.str(), d.str()
	if d.bad {
		return narInfoRecord{}, errBadRecord
	}
	r.NarInfo = d.v
	return r, nil
}

// recordKey returns the NAR file key a narinfo record names ("" if
// unreadable), without reading the rest.
func recordKey(v []byte) string {
	if len(v) > 0 && v[0] == jsonRecordStart {
		var h struct {
			Key string `json:"key"`
		}
		if json.Unmarshal(v, &h) != nil {
			return ""
		}
		return h.Key
	}
	d := recordReader{v: v}
	if d.byte() != recordV1 {
		return ""
	}
	d.uvarint()
	if k := d.str(); !d.bad {
		return k
	}
	return ""
}

type narRecord struct {
	Size  int64
	Atime int64 // last access, unix nanos
}

func (r narRecord) encode() []byte {
	v := make([]byte, 0, 1+binary.MaxVarintLen64+8)
	v = append(v, recordV1)
	v = binary.AppendUvarint(v, uint64(r.Size))
	return binary.BigEndian.AppendUint64(v, uint64(r.Atime))
}

// decodeNarRecord reads a nar record of either format; ok is false for an
// unreadable one, or a JSON one not marked complete.
func decodeNarRecord(v []byte) (r narRecord, ok bool) {
	if len(v) > 0 && v[0] == jsonRecordStart {
		var j struct {
			Size     int64 `json:"size"`
			Atime    int64 `json:"atime"`
			Complete bool  `json:"complete"`
		}
		if json.Unmarshal(v, &j) != nil || !j.Complete {
			return r, false
		}
		return narRecord{Size: j.Size, Atime: j.Atime}, true
	}
	d := recordReader{v: v}
	if d.byte() != recordV1 {
		return r, false
	}
	r.Size = int64(d.uvarint())
	if d.bad || len(d.v) != 8 {
		return narRecord{}, false
	}
	r.Atime = int64(binary.BigEndian.Uint64(d.v))
	return r, true
}

// recordReader reads the fields of a record; bad is set once one is short.
type recordReader struct {
	v   []byte
	bad bool
}

func (d *recordReader) byte() byte {
	if len(d.v) == 0 {
		d.bad = true
		return 0
	}
	b := d.v[0]
	d.v = d.v[1:]
	return b
}

func (d *recordReader) uvarint() uint64 {
	x, n := binary.Uvarint(d.v)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.v = d.v[n:]
	return x
}

func (d *recordReader) str() string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.v)) {
		d.bad = true
		return ""
	}
	s := string(d.v[:n])
	d.v = d.v[n:]
	return s
}

// jsonNarInfoRecord is the narinfo record of the JSON format, read when an
// index written before version 1 is migrated.
type jsonNarInfoRecord struct {
	NarInfo     []byte `json:"narinfo"`
	Key         string `json:"key"`
	FileSize    uint64 `json:"file_size"`
	Upstream    string `json:"upstream"`
	UpstreamURL string `json:"upstream_url"`
	UpstreamKey string `json:"upstream_key,omitempty"`
	Atime       int64  `json:"atime"`
}

func (j *jsonNarInfoRecord) record() narInfoRecord {
	return narInfoRecord{NarInfo: j.NarInfo, Key: j.Key, FileSize: j.FileSize,
		Upstream: j.Upstream, UpstreamURL: j.UpstreamURL, UpstreamKey: j.UpstreamKey}
}
