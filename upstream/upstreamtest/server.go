// Package upstreamtest is a fake upstream binary cache for tests, benchmarks
// and soak runs: it serves a real binary cache directory (as written by
// `nix copy --to file://…` or WriteCache) over HTTP on loopback, with
// Range, HEAD and Content-Length, and with fault hooks.
package upstreamtest

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a running fake upstream.
type Server struct {
	// URL is the base URL, http://127.0.0.1:PORT.
	URL string

	dir    string
	srv    *httptest.Server
	closed chan struct{}
	once   sync.Once

	mu        sync.Mutex
	faults    []*activeFault
	rng       *rand.Rand
	requests  map[string]int   // path → count
	bytesSent map[string]int64 // path → body bytes written
	rate      int64            // NAR body bytes per second; 0 unthrottled
	token     string           // required credential; "" none
	headers   []headerRule     // added to successful responses (SetHeader)
}

// New starts a fake upstream serving cacheDir on 127.0.0.1; it is closed by
// t.Cleanup.
func New(t testing.TB, cacheDir string) *Server {
	t.Helper()
	s, err := NewServer(cacheDir)
	if err != nil {
		t.Fatalf("upstreamtest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// NewServer starts a fake upstream serving cacheDir on 127.0.0.1, for use
// outside tests. Call Close.
func NewServer(cacheDir string) (*Server, error) {
	fi, err := os.Stat(cacheDir)
	if err != nil {
		return nil, fmt.Errorf("cache directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("cache directory %s is not a directory", cacheDir)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{
		dir:       cacheDir,
		closed:    make(chan struct{}),
		rng:       rand.New(rand.NewPCG(1, 2)),
		requests:  map[string]int{},
		bytesSent: map[string]int64{},
	}
	s.srv = &httptest.Server{
		Listener: l,
		Config:   &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second},
	}
	s.srv.Start()
	s.URL = s.srv.URL
	return s, nil
}

// Close stops the server, cutting requests still in progress (stalled ones too).
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closed)
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
}

// AddFault adds a fault; faults apply in the order added.
func (s *Server) AddFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &activeFault{Fault: f})
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Requests counts the requests (any method) whose path contains substr.
func (s *Server) Requests(substr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for p, c := range s.requests {
		if strings.Contains(p, substr) {
			n += c
		}
	}
	return n
}

// BytesSent sums the body bytes sent for paths containing substr.
func (s *Server) BytesSent(substr string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for p, c := range s.bytesSent {
		if strings.Contains(p, substr) {
			n += c
		}
	}
	return n
}

// SetRate throttles NAR bodies to bytesPerSec (0: unthrottled).
func (s *Server) SetRate(bytesPerSec int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate = bytesPerSec
}

// RequireAuth makes every request need "Authorization: Bearer token" or
// basic auth with token as password (any login, as Cachix wants). "" turns
// it off. Others get 401.
func (s *Server) RequireAuth(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// begin records a request and picks the faults that hit it.
func (s *Server) begin(p string) (faults []Fault, rate int64, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[p]++
	for _, f := range s.faults {
		if f.Match != "" && !strings.Contains(p, f.Match) {
			continue
		}
		if f.Times > 0 && f.fired >= f.Times {
			continue
		}
		if f.Rate > 0 && s.rng.Float64() >= f.Rate {
			continue
		}
		f.fired++
		faults = append(faults, f.Fault)
	}
	return faults, s.rate, s.token
}

func (s *Server) addBytes(p string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bytesSent[p] += int64(n)
}

func authorized(r *http.Request, token string) bool {
	if token == "" {
		return true
	}
	if _, pw, ok := r.BasicAuth(); ok {
		return subtle.ConstantTimeCompare([]byte(pw), []byte(token)) == 1
	}
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(bearer), []byte(token)) == 1
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	faults, rate, token := s.begin(p)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "read-only cache", http.StatusMethodNotAllowed)
		return
	}
	if !authorized(r, token) {
		w.Header().Set("WWW-Authenticate", `Basic realm="upstreamtest"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	isNarInfo := strings.HasSuffix(p, ".narinfo")
	bf, rewrites, ok := s.applyFaults(w, r, faults, isNarInfo)
	if !ok {
		return
	}
	name := path.Clean("/" + p)
	content, ok := s.readFile(w, name, rewrites)
	if !ok {
		return
	}
	if setContentHeaders(w.Header(), name, isNarInfo) {
		bf.rate = rate
	}
	s.addHeaders(w.Header(), p)
	fw := &faultWriter{ResponseWriter: w, s: s, r: r, path: p, faults: bf, start: time.Now()}
	defer func() {
		if fw.aborted {
			panic(http.ErrAbortHandler)
		}
	}()
	http.ServeContent(fw, r, "", time.Time{}, bytes.NewReader(content))
}

// statusFaults answer with an error status instead of the file.
var statusFaults = map[FaultKind]struct {
	status int
	text   string
}{
	NotFound:    {http.StatusNotFound, "not found (fault)"},
	ServerError: {http.StatusInternalServerError, "server error (fault)"},
	Forbidden:   {http.StatusForbidden, "forbidden (fault)"},
}

// applyFaults acts, in order, on the faults that come before the body: an
// error status, a delay, a dropped Range header. It returns the faults for
// the body and the narinfo rewrites, and false when it has already answered.
func (s *Server) applyFaults(w http.ResponseWriter, r *http.Request, faults []Fault, isNarInfo bool) (bf bodyFaults, rewrites []FaultKind, ok bool) {
	for _, f := range faults {
		if e, hit := statusFaults[f.Kind]; hit {
			http.Error(w, e.text, e.status)
			return bf, nil, false
		}
		switch f.Kind {
		case SlowFirstByte:
			if !s.sleep(r, f.Delay) {
				// Cut the connection, as a real server going down would:
				// returning would send an empty 200.
				panic(http.ErrAbortHandler)
			}
		case StallMidBody:
			bf.stall, bf.stallFor = true, f.Delay
		case Truncate:
			bf.truncate = true
		case Corrupt:
			bf.corrupt = true
		case Reset:
			bf.reset = true
		case IgnoreRange:
			r.Header.Del("Range")
		case UntrustedSig, UnknownFieldsHexHashes:
			if isNarInfo {
				rewrites = append(rewrites, f.Kind)
			}
		}
	}
	return bf, rewrites, true
}

// readFile returns the file at the clean path name with the narinfo rewrites
// applied, or answers with an error and returns false.
func (s *Server) readFile(w http.ResponseWriter, name string, rewrites []FaultKind) ([]byte, bool) {
	content, err := os.ReadFile(filepath.Join(s.dir, filepath.FromSlash(name)))
	if err != nil || strings.HasSuffix(name, "/") || name == "/" {
		http.Error(w, "not found", http.StatusNotFound)
		return nil, false
	}
	for _, k := range rewrites {
		if content, err = rewriteNarInfo(content, k); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return nil, false
		}
	}
	return content, true
}

// setContentHeaders sets Content-Type and Cache-Control as a real binary
// cache does, and reports whether name is a NAR (neither narinfo nor
// nix-cache-info).
func setContentHeaders(h http.Header, name string, isNarInfo bool) (isNAR bool) {
	switch {
	case isNarInfo:
		h.Set("Content-Type", "text/x-nix-narinfo")
		h.Set("Cache-Control", "max-age=60")
		return false
	case name == "/nix-cache-info":
		h.Set("Content-Type", "text/x-nix-cache-info")
		return false
	default:
		h.Set("Content-Type", "application/x-nix-nar")
		h.Set("Cache-Control", "max-age=31536000, immutable")
		return true
	}
}

// sleep waits d, or until the client leaves or the server closes
// (d == 0: only those). It reports whether the request may go on.
func (s *Server) sleep(r *http.Request, d time.Duration) bool {
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		return true
	case <-r.Context().Done():
		return false
	case <-s.closed:
		return false
	}
}

var errClientGone = errors.New("client gone")
