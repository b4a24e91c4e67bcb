package localstore

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
)

// nonRootStoreEnv names the store TestNonRootChild serves; it is set only
// for the copy of this test binary that TestNonRootReader runs as nobody.
const nonRootStoreEnv = "LOCALSTORE_NONROOT_STORE"

// childMark prefixes the child's answers among the test framework's output.
const childMark = "nonroot-child:"

// TestNonRootChild opens the store named by $LOCALSTORE_NONROOT_STORE and
// answers one line per hash part read from stdin: "ok PATH MODE" or
// "err MESSAGE". "+HASH" starts goroutines looking HASH up until "-",
// which answers "ok hammer" or the first error they met.
func TestNonRootChild(t *testing.T) {
	dir := os.Getenv(nonRootStoreEnv)
	if dir == "" {
		t.Skip("runs only as the unprivileged child of TestNonRootReader")
	}
	s, err := Open(dir)
	if err != nil {
		fmt.Println(childMark, "err", err)
		return
	}
	defer s.Close()
	fmt.Println(childMark, "ok open")
	var h *hammer
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		line := in.Text()
		if hash, ok := strings.CutPrefix(line, "+"); ok {
			h = startHammer(s, hash)
			continue
		}
		if line == "-" {
			if err := h.stop(); err != nil {
				fmt.Println(childMark, "err", err)
			} else {
				fmt.Println(childMark, "ok hammer")
			}
			continue
		}
		info, err := s.PathInfo(context.Background(), line)
		if err != nil {
			fmt.Println(childMark, "err", err)
			continue
		}
		fmt.Println(childMark, "ok", info.Path, readMode(s))
	}
}

// hammer looks one path up from several goroutines until stopped, so that
// connection switches happen under concurrent queries.
type hammer struct {
	cancel context.CancelFunc
	errs   chan error
}

func startHammer(s *Store, hash string) *hammer {
	const workers = 4
	ctx, cancel := context.WithCancel(context.Background())
	h := &hammer{cancel: cancel, errs: make(chan error, workers)}
	for range workers {
		go func() {
			for ctx.Err() == nil {
				if _, err := s.PathInfo(ctx, hash); err != nil && ctx.Err() == nil {
					h.errs <- err
					return
				}
			}
			h.errs <- nil
		}()
	}
	return h
}

func (h *hammer) stop() error {
	h.cancel()
	var errs []error
	for range cap(h.errs) {
		errs = append(errs, <-h.errs)
	}
	return errors.Join(errs...)
}

// readMode tells which connection the store reads through now.
func readMode(s *Store) string {
	if s.db.cur.Load().immutable {
		return "immutable"
	}
	return "wal"
}

// An unprivileged user, who cannot create db.sqlite-wal or -shm, reads the
// database both when no other process has it open (no WAL files) and while
// a writer has, and sees paths that `nix copy` adds afterwards.
func TestNonRootReader(t *testing.T) {
	nixtest.Require(t)
	if os.Geteuid() != 0 {
		skipUnlessCI(t, "needs root to run a reader as nobody")
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		skipUnlessCI(t, "runuser not found")
	}
	fx := nixtest.Build(t, fixtureOpts)
	bin := copyForOthers(t)
	tests := []struct {
		name       string
		holdWriter bool   // a root connection keeps the WAL files in place at start
		wantMode   string // readMode at the first lookup
	}{
		{name: "no WAL files", wantMode: "immutable"},
		{name: "writer holds the database open", holdWriter: true, wantMode: "wal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := fx.ChrootStore(t)
			openToOthers(t, dir)
			dbPath := filepath.Join(dir, "nix/var/nix/db/db.sqlite")
			var writer *sql.DB
			if tt.holdWriter {
				writer = holdOpen(t, dbPath)
			}
			if _, err := os.Stat(dbPath + "-wal"); (err == nil) != tt.holdWriter {
				t.Fatalf("before the reader starts: stat WAL: %v, want it present = %v", err, tt.holdWriter)
			}

			c := startChild(t, bin, dir)
			if got := c.ask(t, ""); got != "ok open" {
				t.Fatalf("open as nobody: %s", got)
			}
			want := fmt.Sprintf("ok %s %s", fx.Root, tt.wantMode)
			if got := c.ask(t, hashPart(fx.Root)); got != want {
				t.Fatalf("path info as nobody = %q, want %q", got, want)
			}

			// Each copy opens the database as root, commits and closes,
			// while other lookups run.
			c.send(t, "+"+hashPart(fx.Root))
			for i := range 2 {
				added := addPath(t, dir, fmt.Sprintf("%s %d %d", tt.name, i, time.Now().UnixNano()))
				if i == 0 && writer != nil {
					if err := writer.Close(); err != nil {
						t.Fatal(err)
					}
				}
				// The reader's SHARED lock kept the last one closing from
				// checkpointing and deleting the WAL.
				if _, err := os.Stat(dbPath + "-wal"); err != nil {
					t.Errorf("after a copy: %v", err)
				}
				want := fmt.Sprintf("ok %s wal", added)
				if got := c.ask(t, hashPart(added)); got != want {
					t.Fatalf("path info of a path copied in after open = %q, want %q", got, want)
				}
			}
			c.send(t, "-")
			if got := c.ask(t, ""); got != "ok hammer" {
				t.Errorf("concurrent lookups: %s", got)
			}
			want = fmt.Sprintf("ok %s wal", fx.Root)
			if got := c.ask(t, hashPart(fx.Root)); got != want {
				t.Errorf("path info after the copies = %q, want %q", got, want)
			}
		})
	}
}

// copyForOthers copies this test binary where nobody may run it.
func copyForOthers(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	openToOthers(t, dir)
	bin := filepath.Join(dir, "localstore.test")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// openToOthers lets other users read dir and reach it through its
// ancestors (t.TempDir makes them 0700). The store's database directory
// stays writable only by root.
func openToOthers(t *testing.T, dir string) {
	t.Helper()
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode&0o005 != 0o005 {
			if err := os.Chmod(d, mode|0o055); err != nil {
				t.Fatal(err)
			}
		}
		if d == filepath.Dir(d) {
			return
		}
	}
}

// holdOpen opens the database as root the way a Nix process does, which
// creates db.sqlite-wal and -shm; they stay until the returned pool closes.
func holdOpen(t *testing.T, dbPath string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var n int
	if err := db.QueryRow("SELECT count(*) FROM ValidPaths").Scan(&n); err != nil || n == 0 {
		t.Fatalf("read database as root: %d paths, %v", n, err)
	}
	return db
}

// addPath adds a fresh file to the system store and copies it into the
// chroot store at dir.
func addPath(t *testing.T, dir, content string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "nonroot-added")
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	env := nixtest.Env(t)
	p := nixtest.Run(t, env, "nix", "store", "add-file", file)
	nixtest.Run(t, env, "nix", "copy", "--no-check-sigs", "--to", dir, p)
	return p
}

// child is TestNonRootChild running as nobody.
type child struct {
	stdin   io.WriteCloser
	answers chan string
}

func startChild(t *testing.T, bin, dir string) *child {
	t.Helper()
	cmd := exec.Command("runuser", "-u", "nobody", "--", bin, "-test.run=^TestNonRootChild$")
	cmd.Env = append(os.Environ(), nonRootStoreEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{stdin: stdin, answers: make(chan string)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(c.answers)
		out := bufio.NewScanner(stdout)
		for out.Scan() {
			if answer, ok := strings.CutPrefix(out.Text(), childMark+" "); ok {
				c.answers <- answer
			}
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if err := cmd.Wait(); err != nil {
			var exit *exec.ExitError
			if !errors.As(err, &exit) || !t.Failed() {
				t.Errorf("reader as nobody: %v\n%s", err, stderr.Bytes())
			}
		}
	})
	return c
}

func (c *child) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

// ask sends a hash part ("" sends nothing) and returns the next answer.
func (c *child) ask(t *testing.T, hash string) string {
	t.Helper()
	if hash != "" {
		c.send(t, hash)
	}
	select {
	case a, ok := <-c.answers:
		if !ok {
			t.Fatal("reader as nobody exited early")
		}
		return a
	case <-time.After(30 * time.Second):
		t.Fatal("no answer from the reader as nobody within 30s")
		return ""
	}
}

// skipUnlessCI skips, except under CI, where the non-root reader (the way
// the NixOS module runs the server) must be tested.
func skipUnlessCI(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}
