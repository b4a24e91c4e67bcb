package mirror

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a log sink written from the fill goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Each fill logs one line: stored, or failed when the upstream sent bad bytes.
func TestFillLogLine(t *testing.T) {
	e := newEnv(t, envOptions{files: map[string][]byte{"a": randomBytes(3, 50<<10)}})
	var logs lockedBuffer
	e.mirror.log = slog.New(slog.NewTextHandler(&logs, nil))
	p := e.paths[0]
	ni := e.narInfo(p)
	// Once: three bad transfers in a row (the first GET's retries, when
	// the check fails before its first byte) exclude the upstream.
	fault := upstreamFaultCorrupt()
	fault.Times = 1
	e.ups[0].AddFault(fault)
	if resp, _, err := e.get(ni.URL); err == nil && resp.StatusCode == 200 {
		t.Log("a corrupt NAR answered 200 before the cut")
	}
	e.ups[0].ClearFaults()
	// The failed upstream may be backed off for a moment: a few tries.
	for try := 0; ; try++ {
		resp, _, err := e.get(ni.URL)
		if err == nil && resp.StatusCode == 200 {
			break
		}
		if try == 20 {
			t.Fatalf("GET after the fault: %v, %v", resp, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.waitStored(strings.TrimPrefix(ni.URL, URLPrefix))
	want := fmt.Sprintf(`msg="mirror fill" path=%s upstream=%s bytes=%d`, p, e.ups[0].URL, len(e.upstreamFile(p)))
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "outcome=stored"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no stored line:\n%s", logs.String())
		}
	}
	var failed, stored []string
	for _, l := range strings.Split(logs.String(), "\n") {
		switch {
		case !strings.Contains(l, `msg="mirror fill"`):
		case strings.Contains(l, "outcome=failed"):
			failed = append(failed, l)
		case strings.Contains(l, "outcome=stored"):
			stored = append(stored, l)
		default:
			t.Errorf("unexpected fill line %s", l)
		}
	}
	// The mirror retries a bad transfer before the first byte: as many
	// failed lines as attempts met the fault, then one stored.
	if len(failed) == 0 || len(stored) != 1 || !strings.Contains(stored[0], want) || !strings.Contains(stored[0], " took=") ||
		!strings.Contains(failed[0], "FileHash mismatch") {
		t.Errorf("fill lines, want failed ones and %q … outcome=stored:\n%s", want, logs.String())
	}
}
