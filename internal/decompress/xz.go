package decompress

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/private-nix-cache/private-nix-cache/internal/boundedxz"
)

// xz files are decoded by the system's xz (liblzma) when there is one: it
// decodes about three times as fast as the pure-Go decoder, and the
// NarHash check of a download holds back its last byte, so on a cold path
// its speed is what a client waits for. The pure-Go decoder takes small
// files, whose process start would cost more than it saves, and every file
// when no xz is installed.

// xzExecMin is the smallest file (by FileSize) given to the xz process; a
// file of unknown size always is.
const xzExecMin = 64 << 10

// xzMemLimit is the most memory xz may use: MaxDict and the decoder's own
// state (xz -9 needs 65 MiB). The dictionary sizes an xz header can name
// go from 64 MiB straight to 96 MiB, so this refuses exactly the
// dictionaries boundedxz refuses, before allocating them.
const xzMemLimit = boundedxz.MaxDict + 1<<20

// xzBinary finds the xz program once; "" when there is none. Tests may
// replace it.
var xzBinary = sync.OnceValue(func() string {
	path, err := exec.LookPath("xz")
	if err != nil {
		return ""
	}
	return path
})

// xzDecoder decompresses r, an xz file of fileSize bytes (0: unknown).
func xzDecoder(r io.Reader, fileSize uint64) (io.ReadCloser, error) {
	if bin := xzBinary(); bin != "" && (fileSize == 0 || fileSize >= xzExecMin) {
		return startXZ(bin, r)
	}
	x, err := boundedxz.NewReader(r)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(x), nil
}

// xzProcess is a running `xz --decompress` reading from a feeder
// goroutine and writing the NAR to out.
type xzProcess struct {
	cmd    *exec.Cmd
	out    io.ReadCloser
	stderr *bytes.Buffer
	fed    chan struct{} // closed once the feeder returned
	done   bool
	err    error
}

func startXZ(bin string, r io.Reader) (*xzProcess, error) {
	cmd := exec.Command(bin, "--decompress", "--stdout", "--threads=1",
		"--memlimit-decompress="+strconv.Itoa(xzMemLimit))
	p := &xzProcess{cmd: cmd, stderr: new(bytes.Buffer), fed: make(chan struct{})}
	cmd.Stderr = &limitedWriter{w: p.stderr, n: 4 << 10}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("xz: %w", err)
	}
	if p.out, err = cmd.StdoutPipe(); err != nil {
		stdin.Close()
		return nil, fmt.Errorf("xz: %w", err)
	}
	if err := cmd.Start(); err != nil {
		stdin.Close()
		return nil, fmt.Errorf("xz: %w", err)
	}
	// Fed by a goroutine of our own rather than exec's: Close waits for it,
	// so that nobody reads r once the decoder is closed.
	go func() {
		defer close(p.fed)
		_, _ = io.Copy(stdin, r) // a failure of r is the caller's to see (sourceReader)
		stdin.Close()
	}()
	return p, nil
}

func (p *xzProcess) Read(b []byte) (int, error) {
	if p.done {
		return 0, p.result()
	}
	n, err := p.out.Read(b)
	if err == io.EOF {
		p.wait()
		return n, p.result()
	}
	if err != nil {
		p.cmd.Process.Kill()
		p.wait()
		return n, fmt.Errorf("xz: %w", err)
	}
	return n, nil
}

// wait reaps the process once its output ended.
func (p *xzProcess) wait() {
	if p.done {
		return
	}
	p.done = true
	<-p.fed
	if err := p.cmd.Wait(); err != nil {
		msg := strings.TrimSpace(p.stderr.String())
		p.err = fmt.Errorf("xz: %s: %w", msg, err)
		if strings.Contains(msg, "Memory usage limit") {
			p.err = fmt.Errorf("%w: over %d MiB: %s", boundedxz.ErrDictTooLarge, boundedxz.MaxDict>>20, msg)
		}
	}
}

func (p *xzProcess) result() error {
	if p.err != nil {
		return p.err
	}
	return io.EOF
}

// Close stops the process if it is still running.
func (p *xzProcess) Close() error {
	if !p.done {
		p.cmd.Process.Kill()
		p.out.Close()
		p.wait()
	}
	return nil
}

// limitedWriter keeps the first n bytes written and drops the rest.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(b []byte) (int, error) {
	if k := min(len(b), l.n); k > 0 {
		l.w.Write(b[:k])
		l.n -= k
	}
	return len(b), nil
}
