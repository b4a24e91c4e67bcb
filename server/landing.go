package server

import (
	"bytes"
	"html/template"
	"net/http"
	"strconv"

	"github.com/dustin/go-humanize"
)

// landingData is what the page at / shows: enough for an operator to point
// a host at this cache.
type landingData struct {
	URL        string
	PublicKeys []string
	Upstreams  []UpstreamStatus
	Priority   int
	Local      bool
	Cache      *CacheStatus
}

// Status is what the landing page shows of the parts behind the server.
type Status struct {
	Upstreams []UpstreamStatus
	// Cache is the mirror's store; nil when there is none.
	Cache *CacheStatus
}

// UpstreamStatus is one upstream cache and whether it is asked now.
type UpstreamStatus struct {
	Name  string
	State string // e.g. "answering"; empty when unknown
}

// CacheStatus is what the mirror's store holds.
type CacheStatus struct {
	Bytes int64
	Files int
}

// Size is Bytes for people (e.g. "1.2 GiB").
func (c CacheStatus) Size() string { return humanize.IBytes(uint64(max(c.Bytes, 0))) }

var landingPage = template.Must(template.New("landing").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>private-nix-cache</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; color: #1d1d1f; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
pre, code { font-family: ui-monospace, monospace; background: #f3f4f6; border-radius: 4px; }
pre { padding: .8rem 1rem; overflow-x: auto; }
code { padding: 0 .2rem; }
td, th { text-align: left; padding: .2rem 1rem .2rem 0; vertical-align: top; }
.muted { color: #6b7280; }
</style>
</head>
<body>
<h1>private-nix-cache</h1>
<p class="muted">A Nix binary cache at <code>{{.URL}}</code> (priority {{.Priority}}).</p>
<p>It serves {{if .Local}}the Nix store of this machine, signed, and {{end}}{{if .Upstreams}}mirrors of the caches below, each path fetched once and kept for every host{{else}}no upstream cache{{end}}.</p>

<h2>Use it</h2>
<p>In the NixOS configuration of a host:</p>
<pre>nix.settings = {
  substituters = [ "{{.URL}}" ];
  trusted-public-keys = [ {{range .PublicKeys}}"{{.}}" {{else}}/* this cache signs nothing: it has no secret key */ {{end}}];
};</pre>
<p>Or once, on the command line: <code>nix build --option extra-substituters {{.URL}}{{range .PublicKeys}} --option extra-trusted-public-keys {{.}}{{end}} …</code></p>

<h2>Public keys</h2>
{{if .PublicKeys}}<ul>{{range .PublicKeys}}<li><code>{{.}}</code></li>{{end}}</ul>
{{else}}<p>None: narinfos are served with the signatures they already have.</p>{{end}}
<h2>Upstream caches</h2>
{{if .Upstreams}}<ul>{{range .Upstreams}}<li><code>{{.Name}}</code>{{if .State}} <span class="muted">{{.State}}</span>{{end}}</li>{{end}}</ul>
{{else}}<p>None.</p>{{end}}
{{with .Cache}}<h2>Cache</h2>
<p>{{.Files}} NAR files, {{.Size}}.</p>
{{end}}
<p class="muted"><a href="nix-cache-info">nix-cache-info</a> · <a href="metrics">metrics</a></p>
</body>
</html>
`))

// serveLanding answers / with a page saying what this cache is and how a
// host uses it, the URL taken from the request as the host reached it.
func (s *Server) serveLanding(w http.ResponseWriter, r *http.Request) error {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	d := landingData{
		URL:        scheme + "://" + r.Host,
		PublicKeys: s.publicKeys,
		Priority:   s.opts.Priority,
		Local:      s.opts.Local != nil,
	}
	if s.opts.Status != nil {
		st := s.opts.Status()
		d.Upstreams, d.Cache = st.Upstreams, st.Cache
	} else {
		for _, name := range s.opts.UpstreamNames {
			d.Upstreams = append(d.Upstreams, UpstreamStatus{Name: name})
		}
	}
	var buf bytes.Buffer
	if err := landingPage.Execute(&buf, d); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	if r.Method == http.MethodHead {
		return nil
	}
	_, err := w.Write(buf.Bytes())
	return ignoreClientGone(err)
}
