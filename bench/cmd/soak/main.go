// Command soak runs private-nix-cache as a mirror of a misbehaving fake
// upstream (errors, stalls, truncated, corrupt and reset bodies) under
// about a thousand concurrent connections for a set time, checking every
// NAR it delivers. It fails only on correctness: wrong bytes delivered as a
// success, or a 5xx for an item already served. It is started by bench/soak.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/fixture"
	"github.com/private-nix-cache/private-nix-cache/bench/internal/proc"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

type settings struct {
	quick     bool
	server    string
	duration  time.Duration
	conns     int
	synthetic int
	maxSize   string
	out       string
	keep      bool
	seed      uint64

	serverArgs serverArgs
	profileDir string
}

func main() {
	code, err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/soak:", err)
	}
	os.Exit(code)
}

func parseFlags(args []string) (settings, error) {
	fs := flag.NewFlagSet("bench/soak", flag.ContinueOnError)
	var cfg settings
	fs.BoolVar(&cfg.quick, "quick", false, "about 50 connections for about 10 s")
	fs.StringVar(&cfg.server, "server", "", "private-nix-cache binary (bench/soak builds one)")
	fs.DurationVar(&cfg.duration, "duration", 0, "length of the load (default 2m, quick 10s)")
	fs.IntVar(&cfg.conns, "conns", 0, "concurrent connections (default 1000, quick 50)")
	fs.IntVar(&cfg.synthetic, "synthetic", 0, "generated upstream paths besides the Nix-built ones (default 3000, quick 300)")
	fs.StringVar(&cfg.maxSize, "max-size", "", "--max-size for the server (default: none, so items served stay cached)")
	fs.StringVar(&cfg.out, "out", "", "folder for soak.json (default: a temp folder)")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the temp folder (server log, cache)")
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed of the request mix")
	fs.Var(&cfg.serverArgs, "server-arg", "extra arguments for the server, e.g. \"--recompress off\" (repeatable)")
	fs.StringVar(&cfg.profileDir, "heap-profile", "", "folder for the server's heap profile nearest its peak RSS (heap-peak.pb.gz)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.server == "" {
		return cfg, fmt.Errorf("--server is required")
	}
	pick := func(v *int, full, quick int) {
		if *v <= 0 {
			*v = full
			if cfg.quick {
				*v = quick
			}
		}
	}
	pick(&cfg.conns, 1000, 50)
	pick(&cfg.synthetic, 3000, 300)
	if cfg.duration <= 0 {
		cfg.duration = 2 * time.Minute
		if cfg.quick {
			cfg.duration = 10 * time.Second
		}
	}
	return cfg, nil
}

func run(args []string, stdout, stderr io.Writer) (int, error) {
	cfg, err := parseFlags(args)
	if err != nil {
		return 2, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}
	_, _, slowReaders := hostileCounts(cfg.quick)
	if err := raiseFileLimit(cfg.conns + slowReaders); err != nil {
		return 1, err
	}
	tmp, err := os.MkdirTemp("", "private-nix-cache-soak-")
	if err != nil {
		return 1, err
	}
	if cfg.keep {
		logf("keeping %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	up, err := prepareUpstream(ctx, cfg, tmp, logf)
	if err != nil {
		return 1, err
	}
	fake, err := upstreamtest.NewServer(up.dir)
	if err != nil {
		return 1, err
	}
	defer fake.Close()
	addFaults(fake, cfg.quick)

	srv, base, err := startServer(cfg, tmp, fake.URL, up.publicKey)
	if err != nil {
		return 1, err
	}
	defer srv.Stop(20 * time.Second)

	before, err := goroutines(ctx, base)
	if err != nil {
		return 1, err
	}
	logf("soak: %d connections for %v against %s, %d upstream paths, faults on", cfg.conns, cfg.duration, base, len(up.items))
	if cfg.profileDir != "" {
		pctx, stopProfile := context.WithCancel(ctx)
		defer stopProfile()
		go profileAtPeak(pctx, srv, filepath.Join(tmp, "cache", "admin.sock"), cfg.profileDir, logf)
	}
	res := load(ctx, cfg, base, up.items, up.hostile)
	logf("soak: load over, %d requests; waiting for the server to settle", res.Requests)

	if res.Server, err = settle(ctx, cfg, fake, srv, base, before); err != nil {
		return 1, err
	}
	res.Settings = map[string]any{"connections": cfg.conns, "duration": cfg.duration.String(), "upstream_paths": len(up.items),
		"nix_built": up.nixBuilt, "synthetic": cfg.synthetic, "max_size": cfg.maxSize, "faults": faultText(cfg.quick),
		"hostile": hostileText(cfg.quick)}

	printSummary(stdout, res)
	file, err := writeResult(cfg.out, res)
	if err != nil {
		return 1, err
	}
	logf("wrote %s", file)
	if res.WrongBytes > 0 || res.WrongNarInfos > 0 || res.ServerErrorsOnCached > 0 {
		return 1, fmt.Errorf("correctness: %d wrong NAR bodies, %d wrong narinfos, %d 5xx on cached items",
			res.WrongBytes, res.WrongNarInfos, res.ServerErrorsOnCached)
	}
	return 0, nil
}

// settle runs once the clients have gone. It stops the upstream too, which
// ends the downloads still running and the server's idle upstream
// connections, and reports what the server holds on to after that: more
// goroutines than before is a leak.
func settle(ctx context.Context, cfg settings, fake *upstreamtest.Server, srv *proc.Proc, base string, before int) (serverFacts, error) {
	upNAR, upNarInfo := fake.Requests("/nar/"), fake.Requests(".narinfo")
	fake.Close()
	wait := 45 * time.Second
	if cfg.quick {
		wait = 15 * time.Second
	}
	after, err := settleGoroutines(ctx, base, before, wait)
	if err != nil {
		return serverFacts{}, err
	}
	rss, err := srv.PeakRSS()
	if err != nil {
		return serverFacts{}, err
	}
	return serverFacts{
		GoroutinesBefore: before, GoroutinesAfter: after, GoroutineLeak: after > before+goroutineSlack,
		PeakRSSMiB:          float64(rss) / (1 << 20),
		UpstreamNARRequests: upNAR, UpstreamNarInfoRequests: upNarInfo,
		Log: srv.LogTail(),
	}, nil
}

// writeResult writes res as soak.json into dir (empty: a new temporary
// folder) and returns the file's path.
func writeResult(dir string, res *Result) (string, error) {
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "private-nix-cache-soak-results-"); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	js, _ := json.MarshalIndent(res, "", "  ")
	file := filepath.Join(dir, "soak.json")
	return file, os.WriteFile(file, append(js, '\n'), 0o644)
}

// goroutineSlack is how many more goroutines than at the start still
// count as settled: lazily started background work and the like.
const goroutineSlack = 10

// raiseFileLimit lifts the open-file limit to its hard maximum, for the
// client's connections and, inherited, the server's.
func raiseFileLimit(conns int) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("raise RLIMIT_NOFILE: %w", err)
	}
	if need := uint64(conns)*2 + 200; l.Cur < need {
		return fmt.Errorf("open-file limit %d is below the %d that %d connections need", l.Cur, need, conns)
	}
	return nil
}

func startServer(cfg settings, tmp, upstreamURL, publicKey string) (*proc.Proc, string, error) {
	sec, _, err := narinfo.GenerateKey("soak-ours-1", rand.Reader)
	if err != nil {
		return nil, "", err
	}
	secFile := filepath.Join(tmp, "ours.sec")
	if err := os.WriteFile(secFile, []byte(sec), 0o600); err != nil {
		return nil, "", err
	}
	port, err := proc.FreePort()
	if err != nil {
		return nil, "", err
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{"serve", "--listen", listen, "--local-store", "false", "--upstream", upstreamURL,
		"--trusted-public-key", publicKey, "--cache-dir", filepath.Join(tmp, "cache"),
		"--secret-key-file", secFile, "--log-level", "warn",
		// Short enough that the slow readers are dropped within the run.
		"--write-stall-timeout", (cfg.duration / 4).String()}
	if cfg.maxSize != "" {
		args = append(args, "--max-size", cfg.maxSize)
	}
	args = append(args, cfg.serverArgs...)
	env := append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(tmp, "xdg-cache"), "XDG_DATA_HOME="+filepath.Join(tmp, "xdg-data"))
	p, err := proc.Start("private-nix-cache", filepath.Join(tmp, "server.log"), env, cfg.server, args...)
	if err != nil {
		return nil, "", err
	}
	base := "http://" + listen
	if err := p.WaitHTTP(base+"/nix-cache-info", 30*time.Second); err != nil {
		p.Stop(time.Second)
		return nil, "", err
	}
	return p, base, nil
}

// nixAvailable reports whether the Nix tools that build the real fixture are here.
func nixAvailable() bool {
	for _, t := range []string{"nix-build", "nix-store", "nix"} {
		if _, err := exec.LookPath(t); err != nil {
			return false
		}
	}
	return true
}

// quickFixture is the Nix-built part of the upstream: the same one bench/run --quick uses.
var quickFixture = fixture.Params{Small: 30, BigCount: 1, BigSize: 5 << 20, XZSmall: 5}

func faultText(quick bool) []string {
	var out []string
	for _, f := range faults(quick) {
		s := fmt.Sprintf("%s rate %.3f", f.Kind, f.Rate)
		if f.Match != "" {
			s += " on " + f.Match
		}
		if f.Delay > 0 {
			s += " delay " + f.Delay.String()
		}
		out = append(out, s)
	}
	return out
}
