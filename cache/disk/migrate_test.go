package disk

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

// oldNarRecord is the nar record of the JSON format, as written before
// index format 1.
type oldNarRecord struct {
	Size     int64 `json:"size"`
	Atime    int64 `json:"atime"`
	Complete bool  `json:"complete"`
}

// writeOldIndex writes an index of the JSON format into dir, as the code
// before index format 1 did: narinfos (with their last read inside), nar
// file entries and negative entries, and puts the NAR files in place.
func writeOldIndex(t *testing.T, dir string, narInfos []cache.NarInfoEntry, atimes []int64, files map[string][]byte, negatives map[string]time.Time) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "index.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		ni, _ := tx.CreateBucket(bucketNarInfo)
		nb, _ := tx.CreateBucket(bucketNar)
		neg, _ := tx.CreateBucket(bucketNegative)
		for i, e := range narInfos {
			v, _ := json.Marshal(jsonNarInfoRecord{NarInfo: e.NarInfo.Bytes(), Key: e.Key, FileSize: e.NarInfo.FileSize,
				Upstream: e.Upstream, UpstreamURL: e.UpstreamURL, UpstreamKey: e.UpstreamKey, Atime: atimes[i]})
			if err := ni.Put([]byte(e.NarInfo.HashPart()), v); err != nil {
				return err
			}
		}
		for key, data := range files {
			v, _ := json.Marshal(oldNarRecord{Size: int64(len(data)), Atime: time.Now().UnixNano(), Complete: true})
			if err := nb.Put([]byte(key), v); err != nil {
				return err
			}
		}
		for hp, exp := range negatives {
			if err := neg.Put([]byte(hp), encodeExpiry(exp)); err != nil {
				return err
			}
		}
		// An unreadable record, dropped by the migration.
		return ni.Put([]byte("00000000000000000000000000000000"), []byte("{bad"))
	})
	if err != nil {
		t.Fatal(err)
	}
	for key, data := range files {
		p := filepath.Join(dir, "nar", key[:2], key)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// An index written in the JSON format opens with every NAR file and
// narinfo it holds, migrated in several batches: records of version 1,
// last reads in narinfo-atime, negative entries ordered by expiry.
func TestIndexUpgradeFromJSON(t *testing.T) {
	defer func(n int) { migrateBatch = n }(migrateBatch)
	migrateBatch = 7
	dir := t.TempDir()
	now := time.Now()
	var entries []cache.NarInfoEntry
	var atimes []int64
	files := make(map[string][]byte)
	for i := range 25 {
		b := makeBlob(t, 64, "none", true)
		e := cache.NarInfoEntry{NarInfo: testNarInfo(t, b, "p"), Key: b.key, Upstream: "up", UpstreamURL: "nar/u" + b.key}
		if i%3 == 0 {
			e.UpstreamKey = "other-" + b.key
		}
		entries, atimes = append(entries, e), append(atimes, now.Add(-time.Duration(i)*time.Hour).UnixNano())
		if i < 5 {
			files[b.key] = b.file
		}
	}
	// The last one was read 31 days ago and its NAR file is not stored.
	atimes[len(atimes)-1] = now.Add(-31 * 24 * time.Hour).UnixNano()
	const live, expired = "11111111111111111111111111111111", "22222222222222222222222222222222"
	writeOldIndex(t, dir, entries, atimes, files, map[string]time.Time{live: now.Add(time.Hour), expired: now.Add(-time.Minute)})

	opts := Options{Dir: dir, FlushInterval: time.Hour}
	c := openTest(t, opts)
	checkIndexFormat(t, c, entries, atimes)
	checkUpgraded := func(when string, entries []cache.NarInfoEntry) {
		t.Helper()
		if _, n := c.Size(); n != len(files) {
			t.Errorf("%s: %d NAR files stored, want %d", when, n, len(files))
		}
		for key, data := range files {
			f, _, err := c.openFile(key)
			if err != nil {
				t.Fatalf("%s: NAR file %s: %v", when, key, err)
			}
			got, _ := readAllFile(f)
			if !bytes.Equal(got, data) {
				t.Errorf("%s: NAR file %s differs", when, key)
			}
		}
		for _, want := range entries {
			got, err := c.NarInfo(want.NarInfo.HashPart())
			if err != nil {
				t.Fatalf("%s: narinfo %s: %v", when, want.NarInfo.HashPart(), err)
			}
			if !bytes.Equal(got.Raw, want.NarInfo.Bytes()) || got.Key != want.Key || got.Upstream != want.Upstream ||
				got.UpstreamURL != want.UpstreamURL || got.UpstreamKey != want.UpstreamKey || got.NarInfo.FileSize != want.NarInfo.FileSize {
				t.Errorf("%s: narinfo %s = %+v, want %+v", when, want.NarInfo.HashPart(), got, want)
			}
		}
		if !c.Negative(live) {
			t.Errorf("%s: live negative entry lost", when)
		}
	}
	checkUpgraded("after the upgrade", entries)
	if n, err := c.sweepNegatives(negativeSweepChunk); err != nil || n != 1 {
		t.Errorf("negative sweep dropped %d, %v; want the expired one", n, err)
	}
	// The migrated last reads count: the one read 31 days ago goes, once
	// the reads above are forgotten (they made it recent).
	c.touchedNI.take()
	if n, err := c.sweepNarInfos(now, 100); err != nil || n != 1 {
		t.Errorf("inactive sweep dropped %d, %v; want the one read 31 days ago", n, err)
	}
	c.Close()
	c = openTest(t, opts)
	checkUpgraded("after reopen", entries[:len(entries)-1])
	if hasNarInfo(t, c, entries[len(entries)-1].NarInfo.HashPart()) {
		t.Error("inactive narinfo back after reopen")
	}
}

// checkIndexFormat checks that the index is of indexFormat: no JSON record
// left, the last reads of entries as in atimes, every negative entry in
// negative-expiry.
func checkIndexFormat(t *testing.T, c *Cache, entries []cache.NarInfoEntry, atimes []int64) {
	t.Helper()
	err := c.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(formatKey); !bytes.Equal(v, []byte{indexFormat}) {
			t.Errorf("index format %v, want %d", v, indexFormat)
		}
		ni, at := tx.Bucket(bucketNarInfo), tx.Bucket(bucketNarInfoAtime)
		if n := ni.Stats().KeyN; n != len(entries) {
			t.Errorf("%d narinfo records, want %d (the unreadable one dropped)", n, len(entries))
		}
		_ = ni.ForEach(func(k, v []byte) error {
			if v[0] != recordV1 {
				t.Errorf("narinfo %s: record of version %d", k, v[0])
			}
			return nil
		})
		for i, e := range entries {
			if got, _ := decodeTime(at.Get([]byte(e.NarInfo.HashPart()))); got != atimes[i] {
				t.Errorf("narinfo %d: last read %d, want %d", i, got, atimes[i])
			}
		}
		neg, exp := tx.Bucket(bucketNegative), tx.Bucket(bucketNegativeExpiry)
		return neg.ForEach(func(k, v []byte) error {
			if exp.Get(expiryKey(v, k)) == nil {
				t.Errorf("negative entry %s not in negative-expiry", k)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func readAllFile(f *os.File) ([]byte, error) {
	defer f.Close()
	var buf bytes.Buffer
	_, err := buf.ReadFrom(f)
	return buf.Bytes(), err
}
