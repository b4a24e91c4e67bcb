package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "private-nix-cache-bin")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "private-nix-cache")
	out, err := exec.Command("go", "build", "-buildvcs=auto", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running private-nix-cache.
type proc struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	logs strings.Builder
	done chan struct{}
}

// start runs the binary with args and waits until it listens. Logs are
// printed when the test fails.
func start(t testing.TB, args ...string) *proc {
	t.Helper()
	return startCmd(t, exec.Command(binPath, args...))
}

// startCmd is start for a command the test prepared (its environment,
// the files it passes); the XDG directories are added to its Env.
func startCmd(t testing.TB, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, done: make(chan struct{})}
	if p.cmd.Env == nil {
		p.cmd.Env = os.Environ()
	}
	p.cmd.Env = append(p.cmd.Env, "XDG_CACHE_HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir())
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			if strings.Contains(line, "msg=listening") {
				if _, a, ok := strings.Cut(line, "addr="); ok {
					addrc <- strings.Fields(a)[0]
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", p.log())
		}
	})
	select {
	case p.addr = <-addrc:
	case <-p.done:
		p.cmd.Wait()
		t.Fatalf("server exited before listening:\n%s", p.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not listen within 30s:\n%s", p.log())
	}
	return p
}

func (p *proc) url() string { return "http://" + p.addr }

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// stop ends the server gracefully and waits for it.
func (p *proc) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
	}
	p.cmd.Wait()
}

// kill ends the server at once, as a crash would.
func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
	p.cmd.Wait()
}
