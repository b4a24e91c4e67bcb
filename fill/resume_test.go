package fill

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

// A body that breaks off is resumed from the bytes written: the reader
// gets the whole file and the file is stored, as after one download. A
// stream that is not stored (the disk refused writes) is resumed the same
// way from the bytes sent.
func TestFillResumes(t *testing.T) {
	small := makeBlob(t, 256<<10, "zstd", true) // downloaded into memory
	big := makeBlob(t, 2<<20, "none", true)     // into a temp file
	noFileHash := makeBlob(t, 600<<10, "zstd", false)
	const k = 1 << 10
	tests := []struct {
		name        string
		blob        *blob
		src         *fakeSource
		wantOffsets []int64
	}{
		{"cut, in memory", small, &fakeSource{cutAt: 100 * k, faulty: 1}, []int64{0, 100 * k}},
		{"cut, temp file", big, &fakeSource{cutAt: 1024 * k, faulty: 1}, []int64{0, 1024 * k}},
		{"stalled", small, &fakeSource{stallAt: 100 * k, faulty: 1}, []int64{0, 100 * k}},
		{"ended short", big, &fakeSource{endAt: 1024 * k, faulty: 1}, []int64{0, 1024 * k}},
		{"cut twice, size unknown", noFileHash, &fakeSource{cutAt: 100 * k, faulty: 2, length: -1}, []int64{0, 100 * k, 100 * k}},
		{"cut as often as resumed", small, &fakeSource{cutAt: 100 * k, faulty: maxResumes}, []int64{0, 100 * k, 100 * k, 100 * k}},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			t.Run(tt.name+storedOrStreamed[stream], func(t *testing.T) {
				reg := prometheus.NewRegistry()
				logs := &recordLog{}
				c := openTest(t, testOptions{StallTimeout: time.Second, Registerer: reg, Logger: slog.New(logs)})
				src := tt.src.clone() // each run counts its own fetches
				src.data, src.chunk = tt.blob.file, 16<<10
				spec, done := specFor(tt.blob, src)
				spec.Upstream = "https://upstream.test"
				n := openStoredOrStreamed(t, c, tt.blob, spec, stream)
				if got := mustRead(t, n); !bytes.Equal(got, tt.blob.file) {
					t.Fatalf("reader got %d bytes, not the file", len(got))
				}
				if err := done.wait(t); err != nil {
					t.Fatalf("download error = %v", err)
				}
				if got := src.fetched(); !slices.Equal(got, tt.wantOffsets) {
					t.Errorf("offsets asked = %v, want %v", got, tt.wantOffsets)
				}
				if stream {
					assertNotStored(t, c, tt.blob.key)
				} else {
					stored, err := c.OpenNAR(context.Background(), tt.blob.key, nil)
					if err != nil {
						t.Fatalf("not stored: %v", err)
					}
					got, _ := io.ReadAll(stored.File())
					stored.Close()
					if !bytes.Equal(got, tt.blob.file) {
						t.Fatal("wrong bytes stored")
					}
				}
				resumes := len(tt.wantOffsets) - 1
				if got := metricValue(t, reg, "private_nix_cache_upstream_resumes_total", nil); got != float64(resumes) {
					t.Errorf("resumes metric = %v, want %d", got, resumes)
				}
				if got := logs.count("resuming nar download", "upstream", spec.Upstream); got != resumes {
					t.Errorf("%d resume log lines naming the upstream, want %d", got, resumes)
				}
			})
		}
	}
}

// A body that keeps breaking off, bytes that do not verify once resumed,
// and a resume the upstream refuses all fail the download as before: the
// reader gets an error, never a short or wrong file, and nothing is stored.
// So too for a stream that is not stored (the disk refused writes).
func TestFillResumeFailures(t *testing.T) {
	small := makeBlob(t, 256<<10, "zstd", true)
	noFileHash := makeBlob(t, 1536<<10, "none", false)
	corrupt := func(b []byte) []byte {
		c := append([]byte(nil), b...)
		c[50<<10] ^= 0xff // before the cut: only the hash at the end shows it
		return c
	}
	const k = 1 << 10
	tests := []struct {
		name        string
		blob        *blob
		src         *fakeSource
		wantErr     error // nil: any error but cache.ErrVerify
		wantFetches int
	}{
		{"cut every time", small, &fakeSource{data: small.file, cutAt: 100 * k}, nil, maxResumes + 1},
		{"ended short every time", small, &fakeSource{data: small.file, endAt: 100 * k}, cache.ErrVerify, maxResumes + 1},
		{"corrupt, FileHash", small, &fakeSource{data: corrupt(small.file), cutAt: 100 * k, faulty: 1}, cache.ErrVerify, 2},
		{"corrupt, NarHash only", noFileHash, &fakeSource{data: corrupt(noFileHash.file), cutAt: 100 * k, faulty: 1}, cache.ErrVerify, 2},
		{"not found on resume", small, &fakeSource{data: small.file, cutAt: 100 * k, resumeErr: fs.ErrNotExist}, fs.ErrNotExist, 2},
		{"length differs on resume", small, &fakeSource{data: small.file, cutAt: 100 * k, faulty: 1, resumeLen: 1}, cache.ErrVerify, 2},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			t.Run(tt.name+storedOrStreamed[stream], func(t *testing.T) {
				c := openTest(t, testOptions{StallTimeout: time.Second})
				src := tt.src.clone()
				src.chunk = 16 << 10
				spec, done := specFor(tt.blob, src)
				n := openStoredOrStreamed(t, c, tt.blob, spec, stream)
				got, rerr := readAllNAR(t, n)
				if rerr == nil || len(got) >= len(tt.blob.file) {
					t.Fatalf("reader got %d of %d bytes, error %v", len(got), len(tt.blob.file), rerr)
				}
				derr := done.wait(t)
				switch {
				case derr == nil:
					t.Fatal("download succeeded")
				case tt.wantErr != nil && !errors.Is(derr, tt.wantErr):
					t.Fatalf("download error = %v, want %v", derr, tt.wantErr)
				case tt.wantErr == nil && errors.Is(derr, cache.ErrVerify):
					t.Fatalf("transient fault reported as wrong content: %v", derr)
				case errors.Is(derr, cache.ErrStorage):
					t.Fatalf("upstream fault reported as a storage failure: %v", derr)
				}
				if got := int(src.calls.Load()); got != tt.wantFetches {
					t.Errorf("fetched %d times (offsets %v), want %d", got, src.fetched(), tt.wantFetches)
				}
				assertNotStored(t, c, tt.blob.key)
			})
		}
	}
}

// storedOrStreamed names the runs of a test with openStoredOrStreamed.
var storedOrStreamed = map[bool]string{false: ", stored", true: ", streamed"}

// openStoredOrStreamed opens b's NAR in c with spec, after marking the disk
// full when stream is set, and checks that it is stored or only streamed
// as asked. The NAR is closed when the test ends.
func openStoredOrStreamed(t *testing.T, c *testCache, b *blob, spec *FillSpec, stream bool) NAR {
	t.Helper()
	if stream {
		c.diskFailed(os.NewSyscallError("write", errnoENOSPC)) // as if the disk were full
	}
	n, err := c.OpenNAR(context.Background(), b.key, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if n.Stored() == stream {
		t.Fatalf("stored = %v, want %v", n.Stored(), !stream)
	}
	return n
}

// recordLog is a slog.Handler that keeps the records.
type recordLog struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordLog) WithGroup(string) slog.Handler            { return h }

func (h *recordLog) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}

// count returns how many records have message msg and attribute key = value.
func (h *recordLog) count(msg, key, value string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.records {
		if r.Message != msg {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key && a.Value.String() == value {
				n++
				return false
			}
			return true
		})
	}
	return n
}
