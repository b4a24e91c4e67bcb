// Package server is the HTTP face of the cache: the Nix binary cache
// protocol over the local store and the upstream mirror. It owns headers,
// Range, streaming and the mapping of errors to statuses (errors.go); it
// reads NARs through the mirror and the local store, never from the
// cache store itself.
package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/private-nix-cache/private-nix-cache/localstore"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// LocalStore is the part of *localstore.Store the server uses.
type LocalStore interface {
	PathInfo(ctx context.Context, hashPart string) (*localstore.PathInfo, error)
	Exists(storePath string) bool
	WriteNAR(w io.Writer, storePath string) (int64, error)
	WriteListing(w io.Writer, storePath string) error
	OpenLog(drvBasename string) (io.ReadCloser, error)
}

// Mirror is the part of *mirror.Mirror the server uses.
type Mirror interface {
	NarInfo(ctx context.Context, hashPart string) (*narinfo.NarInfo, error)
	// OpenNAR opens /nar/mirror/<name>, for a HEAD (head) or a GET. Its
	// errors come before the first byte; Read errors after it cut the
	// response.
	OpenNAR(ctx context.Context, name string, head bool) (MirrorNAR, error)
}

// Options configure a Server. Zero values are documented per field.
type Options struct {
	// Local is the local Nix store; nil serves none.
	Local LocalStore
	// Mirror serves paths from upstream caches; nil mirrors nothing.
	Mirror Mirror
	// LocalCompression is how local NARs are announced and sent:
	// CompressionZstd compresses them on the fly; "" or CompressionNone
	// sends them as they are, with Range.
	LocalCompression string
	// Keys sign every narinfo of the local store; none serves them unsigned.
	Keys []signature.SecretKey
	// Priority is announced in nix-cache-info.
	Priority int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the HTTP metrics; nil registers none.
	Registerer prometheus.Registerer
	// Gatherer is served on /metrics; nil serves no /metrics.
	Gatherer prometheus.Gatherer
	// UpstreamNames are shown on the landing page at /; nil shows none.
	UpstreamNames []string
	// Status, when not nil, gives the landing page the state of the
	// upstreams (in place of UpstreamNames) and of the cache.
	Status func() Status
	// AccessLog receives one line per request; nil logs none.
	AccessLog *slog.Logger
	// Access says which requests need a token; the zero value asks for none.
	Access AccessOptions
	// Push takes uploads (PUT) and serves the pushed paths; nil takes
	// none (PUT is 405).
	Push Pusher
}

// Server answers the binary cache protocol.
type Server struct {
	opts      Options
	log       *slog.Logger
	cacheInfo []byte
	local     *localNarInfos
	metrics   *httpMetrics
	access    *access // nil when no request needs a token
	router    chi.Router
	serve     http.HandlerFunc // the requests, through the access log if any
	// publicKeys are the public halves of Keys, for the landing page.
	publicKeys []string
}

// New builds a Server from opts.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{
		opts: opts,
		log:  opts.Logger,
		cacheInfo: narinfo.CacheInfo{
			StoreDir:      "/nix/store",
			WantMassQuery: true,
			Priority:      opts.Priority,
		}.Bytes(),
		metrics: newHTTPMetrics(opts.Registerer),
		access:  newAccess(opts.Access, opts.Gatherer != nil, opts.Logger, opts.Registerer),
	}
	if opts.Local != nil {
		s.local = newLocalNarInfos(opts.Local, opts.Keys, opts.LocalCompression, opts.Logger)
	}
	for _, k := range opts.Keys {
		s.publicKeys = append(s.publicKeys, k.ToPublicKey().String())
	}
	s.router = s.routes()
	s.serve = s.serveRequest
	if opts.AccessLog != nil {
		s.serve = logAccess(opts.AccessLog, s.serveRequest)
	}
	return s
}

func (s *Server) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(s.metrics.middleware)
	get := func(pattern string, h http.HandlerFunc) {
		r.Get(pattern, h)
		r.Head(pattern, h)
	}
	get("/", s.handle(s.serveLanding))
	get("/{file}", s.handle(s.serveTopLevel))
	get("/nar/mirror/{name}", s.handle(s.serveMirrorNAR))
	get("/nar/{name}", s.handle(s.serveNAR))
	get("/log/{drv}", s.handle(s.serveLog))
	get("/realisations/{file}", s.handle(s.serveRealisation))
	if s.opts.Push != nil {
		s.pushRoutes(r)
	}
	if s.opts.Gatherer != nil {
		get("/metrics", promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{}).ServeHTTP)
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { writeError(w, errNotFound) })
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, HEAD")
		writeStatus(w, http.StatusMethodNotAllowed)
	})
	return r
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serve(w, r) }

func (s *Server) serveRequest(w http.ResponseWriter, r *http.Request) {
	// Checked before any route, the narinfo shortcut included.
	if s.access != nil {
		allowed, code, n, denied := s.access.check(w, r)
		if denied {
			s.metrics.routes[routeOf(r.URL.Path)].observe(code, int64(n))
			return
		}
		r = allowed
	}
	if hashPart, ok := narInfoRequest(r); ok {
		s.serveNarInfoDirect(w, r, hashPart)
		return
	}
	s.router.ServeHTTP(w, r)
}

// serveTopLevel answers the files at the root of a binary cache.
func (s *Server) serveTopLevel(w http.ResponseWriter, r *http.Request) error {
	file := chi.URLParam(r, "file")
	switch {
	case file == "nix-cache-info":
		h := w.Header()
		h.Set("Content-Type", "text/x-nix-cache-info")
		h.Set("Cache-Control", "public, max-age=300")
		_, err := w.Write(s.cacheInfo)
		return ignoreClientGone(err)
	case strings.HasSuffix(file, ".narinfo"):
		return s.serveNarInfo(w, r, strings.TrimSuffix(file, ".narinfo"))
	case strings.HasSuffix(file, ".ls"):
		return s.serveListing(w, r, strings.TrimSuffix(file, ".ls"))
	}
	return errNotFound
}
