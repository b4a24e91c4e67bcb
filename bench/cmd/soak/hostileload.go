package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/narcheck"
	"github.com/private-nix-cache/private-nix-cache/internal/boundedxz"
)

// hostileLoad runs, beside the main workers, a few workers asking for the
// hostile paths and the clients that read NARs at a crawl, all ending
// with ctx.
func (t *tracker) hostileLoad(ctx context.Context, wg *sync.WaitGroup, cfg settings, client *http.Client, base string, items []item, h hostileItems) {
	_, workers, slow := hostileCounts(cfg.quick)
	for w := range workers {
		wg.Go(func() {
			gen := rand.New(rand.NewPCG(cfg.seed, uint64(1_000_000+w)))
			for ctx.Err() == nil {
				if len(h.padded) > 0 && gen.IntN(2) == 0 {
					t.paddedNarInfo(ctx, client, base, h.padded[gen.IntN(len(h.padded))])
				} else if len(h.hugeDict) > 0 {
					t.hugeDictNAR(ctx, client, base, h.hugeDict[gen.IntN(len(h.hugeDict))])
				}
			}
		})
	}
	// The slow readers take the biggest NARs, which fill no socket buffer
	// at once.
	big := append([]item(nil), items...)
	sort.Slice(big, func(i, j int) bool { return big[i].narSize > big[j].narSize })
	big = big[:min(len(big), 20)]
	for r := range slow {
		wg.Go(func() { t.slowReader(ctx, client, base, big[r%len(big)], r%2 == 0) })
	}
}

// paddedNarInfo asks for a padded narinfo: a 404 or 5xx is a refusal, as
// good as a 200 whose narinfo is right; its NAR is then checked too.
func (t *tracker) paddedNarInfo(ctx context.Context, client *http.Client, base string, it item) {
	if ni := t.narInfoAs(ctx, client, base, it, "padded-narinfo", nil); ni != nil {
		t.fetchNAR(ctx, client, base, it, ni)
	}
}

// hugeDictNAR asks for a NAR whose xz file asks for 4 GiB dictionaries.
// The server must refuse it (502, or a cut body); when the unsigned
// FileHash matched, it may have sent every byte, which the client's own
// NarHash check then refuses ("200-hostile-file"). A NAR that decodes is
// impossible here: it would mean the file was not the hostile one.
func (t *tracker) hugeDictNAR(ctx context.Context, client *http.Client, base string, it item) {
	ni := t.narInfoAs(ctx, client, base, it, "hugedict-narinfo", nil)
	if ni == nil {
		return
	}
	start := time.Now()
	resp, kind, err := do(ctx, client, base+"/"+strings.TrimPrefix(ni.URL, "/"))
	if resp == nil {
		if kind != "" {
			t.outcome("hugedict-nar", kind, time.Since(start))
		}
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		t.outcome("hugedict-nar", fmt.Sprint(resp.StatusCode), time.Since(start))
		return
	}
	_, err = narcheck.Verify(resp.Body, ni.Compression, it.narHash, it.narSize)
	d := time.Since(start)
	switch {
	case errors.Is(err, narcheck.ErrTransport):
		if ctx.Err() == nil {
			t.outcome("hugedict-nar", "200-then-"+errorKind(err), d)
		}
	case errors.Is(err, boundedxz.ErrDictTooLarge):
		t.outcome("hugedict-nar", "200-hostile-file", d)
	default:
		t.outcome("hugedict-nar", "200-wrong-bytes", d)
		t.add(func(r *Result) { r.WrongBytes++ })
		t.example("hugedict-nar wrong bytes", fmt.Sprintf("%s: %v", ni.URL, err))
	}
}

// slowReader asks for a NAR over a raw connection and reads nothing
// (still, false: a byte every 3 s) until ctx ends. It counts whether the
// server still held the connection then ("held") or had closed it.
func (t *tracker) slowReader(ctx context.Context, client *http.Client, base string, it item, still bool) {
	ni := t.narInfoAs(ctx, client, base, it, "slow-narinfo", nil)
	if ni == nil {
		return
	}
	start := time.Now()
	conn, err := (&fleetDialer{}).DialContext(ctx, "tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		if ctx.Err() == nil {
			t.outcome("slow-reader", errorKind(err), time.Since(start))
		}
		return
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /%s HTTP/1.1\r\nHost: soak\r\n\r\n", strings.TrimPrefix(ni.URL, "/"))
	var one [1]byte
	for {
		wait := 3 * time.Second
		if still {
			wait = time.Until(deadlineOf(ctx))
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		// A short read deadline: a live connection with data times out
		// or gives a byte; one the server closed gives EOF or a reset.
		conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := conn.Read(one[:])
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			t.outcome("slow-reader", "closed-by-server", time.Since(start))
			return
		}
		if ctx.Err() != nil {
			t.outcome("slow-reader", "held", time.Since(start))
			return
		}
	}
}

func deadlineOf(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(time.Minute)
}
