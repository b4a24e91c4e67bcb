package server

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type httpMetrics struct {
	requests *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	routes   map[string]*routeMetrics
	narInfo  *routeMetrics // routes["narinfo"]
}

// routeMetrics holds one route's counters, resolved once: looking a
// labelled child up costs a hash of its labels on every request.
type routeMetrics struct {
	name     string
	requests *prometheus.CounterVec
	ok       prometheus.Counter // code 200
	notFound prometheus.Counter // code 404
	bytes    prometheus.Counter
}

var routeNames = []string{"cache-info", "narinfo", "nar-mirror", "nar-local", "ls", "log", "realisation", "metrics", "other"}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	f := promauto.With(reg)
	m := &httpMetrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "private_nix_cache_http_requests_total",
			Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		bytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "private_nix_cache_http_response_bytes_total",
			Help: "Response body bytes by route.",
		}, []string{"route"}),
		routes: make(map[string]*routeMetrics, len(routeNames)),
	}
	for _, name := range routeNames {
		m.routes[name] = &routeMetrics{
			name:     name,
			requests: m.requests,
			ok:       m.requests.WithLabelValues(name, "200"),
			notFound: m.requests.WithLabelValues(name, "404"),
			bytes:    m.bytes.WithLabelValues(name),
		}
	}
	m.narInfo = m.routes["narinfo"]
	return m
}

func (rm *routeMetrics) observe(code int, written int64) {
	switch code {
	case http.StatusOK:
		rm.ok.Inc()
	case http.StatusNotFound:
		rm.notFound.Inc()
	default:
		rm.requests.WithLabelValues(rm.name, strconv.Itoa(code)).Inc()
	}
	if written > 0 {
		rm.bytes.Add(float64(written))
	}
}

func (m *httpMetrics) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		defer func() { m.routes[routeOf(r.URL.Path)].observe(sw.status(), sw.written) }()
		next.ServeHTTP(sw, r)
	})
}

// routeOf names the route of a path with a bounded set of labels.
func routeOf(path string) string {
	switch {
	case path == "/nix-cache-info":
		return "cache-info"
	case strings.HasSuffix(path, ".narinfo"):
		return "narinfo"
	case strings.HasPrefix(path, "/nar/mirror/"):
		return "nar-mirror"
	case strings.HasPrefix(path, "/nar/"):
		return "nar-local"
	case strings.HasSuffix(path, ".ls"):
		return "ls"
	case strings.HasPrefix(path, "/log/"):
		return "log"
	case strings.HasPrefix(path, "/realisations/"):
		return "realisation"
	case path == "/metrics":
		return "metrics"
	}
	return "other"
}

// statusWriter records the status and size of a response. It passes
// ReadFrom through so that NAR bodies keep the kernel's sendfile path.
type statusWriter struct {
	http.ResponseWriter
	code    int
	written int64
}

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	return n, err
}

func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(writerOnly{w.ResponseWriter}, r)
	}
	w.written += n
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writerOnly hides every method but Write, so io.Copy cannot recurse.
type writerOnly struct{ io.Writer }
