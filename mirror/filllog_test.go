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
	e.ups[0].AddFault(upstreamFaultCorrupt())
	if resp, _, err := e.get(ni.URL); err == nil && resp.StatusCode == 200 {
		t.Log("a corrupt NAR answered 200 before the cut")
	}
	e.ups[0].ClearFaults()
	if resp, _, err := e.get(ni.URL); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET: %v", err)
	}
	e.waitStored(strings.TrimPrefix(ni.URL, URLPrefix))
	want := fmt.Sprintf(`msg="mirror fill" path=%s upstream=%s bytes=%d`, p, e.ups[0].URL, len(e.upstreamFile(p)))
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "outcome=stored"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no stored line:\n%s", logs.String())
		}
	}
	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `msg="mirror fill"`) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 || !strings.Contains(lines[0], "outcome=failed") || !strings.Contains(lines[1], want) ||
		!strings.Contains(lines[1], "outcome=stored") || !strings.Contains(lines[1], " took=") {
		t.Errorf("fill lines, want a failed one and %q … outcome=stored:\n%s", want, strings.Join(lines, "\n"))
	}
}
