package mirror

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkNarInfoHit measures a narinfo answered from the in-memory LRU.
func BenchmarkNarInfoHit(b *testing.B) {
	e := newEnv(b, envOptions{files: smallFiles()})
	hp := hashPart(e.paths[0])
	ctx := context.Background()
	if _, err := e.mirror.NarInfo(ctx, hp); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ni, err := e.mirror.NarInfo(ctx, hp)
		if err != nil {
			b.Fatal(err)
		}
		_ = ni.Bytes() // what the server does with it
	}
}

// BenchmarkNARHit measures a stored 10 MiB NAR served over loopback
// (ServeContent from the file, sendfile).
func BenchmarkNARHit(b *testing.B) {
	const size = 10 << 20
	e := newEnv(b, envOptions{files: map[string][]byte{"big": randomBytes(9, size)}, compression: "none"})
	ni := e.narInfo(e.paths[0])
	url := e.srv.URL + "/" + ni.URL
	if _, _, err := e.get(ni.URL); err != nil {
		b.Fatal(err)
	}
	e.waitStored(strings.TrimPrefix(ni.URL, URLPrefix))
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n < size {
			b.Fatalf("read %d bytes: %v", n, err)
		}
	}
}
