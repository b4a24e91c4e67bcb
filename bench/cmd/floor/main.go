// Command floor is about the least work net/http can do to answer narinfo
// requests: every *.narinfo of a binary cache folder held in a map and
// written with the headers private-nix-cache sends, on an http.Server set
// up as the real one. A server built on net/http can hardly answer faster,
// so bench/run measures it beside nginx to show where net/http stands.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "`ADDR` to listen on")
	dir := flag.String("dir", "", "binary cache `DIR` whose narinfos are served")
	flag.Parse()
	if err := run(*listen, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(listen, dir string) error {
	bodies, err := load(dir)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler(bodies),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	return srv.Serve(ln)
}

// load reads every narinfo of dir, keyed by its URL path.
func load(dir string) (map[string][]byte, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.narinfo"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no narinfo in %q", dir)
	}
	bodies := make(map[string][]byte, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		bodies["/"+filepath.Base(f)] = b
	}
	return bodies, nil
}

type entry struct {
	body   []byte
	length []string
}

func handler(bodies map[string][]byte) http.Handler {
	entries := make(map[string]entry, len(bodies))
	for p, b := range bodies {
		entries[p] = entry{b, []string{strconv.Itoa(len(b))}}
	}
	contentType := []string{"text/x-nix-narinfo"}
	cacheControl := []string{"public, max-age=60"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/nix-cache-info" { // what proc.WaitHTTP asks for
			_, _ = w.Write([]byte("StoreDir: /nix/store\n"))
			return
		}
		e, ok := entries[r.URL.Path]
		if !ok || !strings.HasSuffix(r.URL.Path, ".narinfo") {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h["Content-Type"] = contentType
		h["Cache-Control"] = cacheControl
		h["Content-Length"] = e.length
		_, _ = w.Write(e.body)
	})
}
