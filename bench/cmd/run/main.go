// Command run benchmarks private-nix-cache against nginx and Nix on
// loopback: as a pull-through mirror (against nginx proxy_cache and the
// upstream itself) and serving a local store (against nginx over a static
// copy and nix-store --dump). It is started by bench/run.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/fixture"
	"github.com/private-nix-cache/private-nix-cache/bench/internal/stats"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

type settings struct {
	quick     bool
	server    string
	floor     string
	out       string
	doc       string
	updateDoc bool
	keep      bool
	only      string
	fromJSON  string
	params    fixture.Params
	reps      int
	duration  time.Duration
	misses    int
	fleet     fixture.FleetParams
	fleetReps int
	fleetNet  string // auto, netns or loopback
	fleetCPUs string // split or shared

	scaleSizes    []int // narinfos at each step of the scale phase
	scaleDuration time.Duration
	scaleBin      string
}

type bench struct {
	cfg       settings
	log       io.Writer
	tmp       string
	server    string
	fx        *fixture.Fixture
	ourSecret string
	ourPublic string
	oursLogs  []string
	client    *http.Client
	measures  map[string]*Measure
	order     []string
	fleet     *fleetResult
	scale     []scaleRow
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench/run:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	if cfg.fromJSON != "" {
		return render(cfg)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	loadStart := loadAverage()
	source := describeSource() // now: the server is built from the tree as it is now

	b := &bench{cfg: cfg, log: os.Stderr, server: cfg.server, client: newHTTPClient(), measures: map[string]*Measure{}}
	if b.tmp, err = os.MkdirTemp("", "private-nix-cache-bench-"); err != nil {
		return err
	}
	if cfg.keep {
		b.logf("keeping %s", b.tmp)
	} else {
		defer os.RemoveAll(b.tmp)
	}
	if cfg.only != "scale" { // the scale phase needs neither Nix nor the fixture
		if err := b.prepare(ctx); err != nil {
			return err
		}
	}
	phases := []struct {
		only, what string
		run        func(context.Context) error
	}{
		{"mirror", "mirror", b.mirrorPhase},
		{"local", "local store", b.localPhase},
		{"fleet", "fleet update", b.fleetPhase},
		{"scale", "index at scale", b.scalePhase},
	}
	for _, p := range phases {
		if cfg.only != "" && cfg.only != p.only {
			continue
		}
		if err := p.run(ctx); err != nil {
			return b.withLogs(fmt.Errorf("%s: %w", p.what, err))
		}
	}

	rep := b.report(args, time.Since(start))
	rep.Machine.LoadStart, rep.Machine.LoadEnd = loadStart, loadAverage()
	rep.Source = source
	if err := keepOtherPhases(rep, cfg.only, cfg.out); err != nil {
		return err
	}
	fmt.Println(rep.Markdown(""))
	stamp := time.Now().UTC().Format("20060102T150405Z")
	return publish(cfg, rep, stamp, b.logf)
}

// prepare checks the tools, builds or finds the fixture and makes the
// server's key.
func (b *bench) prepare(ctx context.Context) error {
	if missing := missingTools(); len(missing) > 0 {
		return fmt.Errorf("missing %s; install with: apt-get install nix-bin nginx-light wrk", strings.Join(missing, ", "))
	}
	root, err := fixture.CacheRoot()
	if err != nil {
		return err
	}
	if b.fx, err = fixture.Get(ctx, root, b.cfg.params, b.log); err != nil {
		return err
	}
	return b.makeKey()
}

// publish writes the results folder and, when asked, the document.
func publish(cfg settings, rep *Report, stamp string, logf func(string, ...any)) error {
	out := cfg.out
	if out == "" {
		var err error
		if out, err = os.MkdirTemp("", "private-nix-cache-bench-results-"); err != nil {
			return err
		}
	}
	jsonFile, svgFile, _, err := rep.write(out, stamp)
	if err != nil {
		return err
	}
	logf("wrote %s and %s", jsonFile, svgFile)
	if cfg.updateDoc {
		rel, err := filepath.Rel(filepath.Dir(cfg.doc), svgFile)
		if err != nil {
			rel = svgFile
		}
		if err := updateDoc(cfg.doc, rep.Markdown(rel)); err != nil {
			return err
		}
		logf("updated %s", cfg.doc)
	}
	return nil
}

// render loads a results file and writes its outputs again, with the
// ratios recomputed from the measures.
func render(cfg settings) error {
	b, err := os.ReadFile(cfg.fromJSON)
	if err != nil {
		return err
	}
	rep := &Report{}
	if err := json.Unmarshal(b, rep); err != nil {
		return fmt.Errorf("%s: %w", cfg.fromJSON, err)
	}
	rep.index = map[string]*Measure{}
	measures := map[string]*Measure{}
	for _, m := range rep.Measures {
		rep.index[m.ID] = m
		measures[m.ID] = m
	}
	rep.Ratios = computeRatios(measures)
	stamp := strings.TrimSuffix(filepath.Base(cfg.fromJSON), ".json")
	if stamp == "latest" {
		stamp = "rendered-" + time.Now().UTC().Format("20060102T150405Z")
	}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	return publish(cfg, rep, stamp, logf)
}

func parseFlags(args []string) (settings, error) {
	fs := flag.NewFlagSet("bench/run", flag.ContinueOnError)
	var cfg settings
	var small, bigCount, bigMB, xz int
	var updateDoc string
	fs.BoolVar(&cfg.quick, "quick", false, "tiny fixture, short runs: checks that everything works; timings mean little")
	fs.StringVar(&cfg.server, "server", "", "private-nix-cache binary to test (bench/run builds one)")
	fs.StringVar(&cfg.floor, "floor", "", "net/http floor binary (bench/cmd/floor) measured beside the narinfo loads; empty: not measured")
	fs.StringVar(&cfg.out, "out", "", "results folder (default: bench/results for a full run, a temp folder for --quick)")
	fs.StringVar(&cfg.doc, "doc", "BENCHMARKS.md", "document whose generated section --update-doc rewrites")
	fs.StringVar(&updateDoc, "update-doc", "", "write the summary into --doc: true or false (default: true for a full run)")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the temp folder (server logs, nginx configs)")
	fs.StringVar(&cfg.only, "only", "", "run one phase: mirror, local, fleet or scale")
	fs.StringVar(&cfg.fromJSON, "from-json", "", "measure nothing: render the tables, chart and document again from a results `FILE`")
	fs.IntVar(&small, "small", 0, "small paths in the fixture (default 1000, quick 30)")
	fs.IntVar(&bigCount, "big-count", 0, "big paths in the fixture (default 2, quick 1)")
	fs.IntVar(&bigMB, "big-mb", 0, "MiB per big path (default 200, quick 5)")
	fs.IntVar(&xz, "xz-small", 0, "small paths of the xz closure (default 50, quick 5)")
	fs.IntVar(&cfg.reps, "runs", 0, "runs per measure (default 5, quick 2)")
	fs.DurationVar(&cfg.duration, "duration", 0, "length of each load run (default 5s, quick 1s)")
	fs.IntVar(&cfg.misses, "misses", 0, "narinfos asked for once per mirror in the miss test (default 200)")
	fs.IntVar(&cfg.fleet.MB, "fleet-mb", 0, "MB of this machine's binaries in the fleet closure (default 330, quick 40)")
	fs.IntVar(&cfg.fleet.Paths, "fleet-paths", 0, "store paths of the fleet closure (default 48, quick 12)")
	fs.IntVar(&cfg.fleetReps, "fleet-runs", 0, "runs of the fleet update (default 3, quick 1)")
	finishScale := cfg.scaleFlags(fs)
	fs.StringVar(&cfg.fleetCPUs, "fleet-cpus", "shared", "fleet CPUs: split (the client on CPU 0, upstream and bastion on the others, as if on other machines; needs taskset and 2 CPUs) or shared")
	fs.StringVar(&cfg.fleetNet, "fleet-net", "auto", "fleet network: netns (namespaces, rate limits; needs root), loopback, or auto (netns unless --quick)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.server == "" && cfg.fromJSON == "" {
		return cfg, fmt.Errorf("--server is required")
	}
	def := func(v *int, full, quick int) {
		if *v <= 0 {
			*v = full
			if cfg.quick {
				*v = quick
			}
		}
	}
	def(&small, 1000, 30)
	def(&bigCount, 2, 1)
	def(&bigMB, 200, 5)
	def(&xz, 50, 5)
	def(&cfg.reps, 5, 2)
	def(&cfg.misses, 200, 200)
	def(&cfg.fleet.MB, 330, 40)
	def(&cfg.fleet.Paths, 48, 12)
	def(&cfg.fleetReps, 3, 1)
	if cfg.duration <= 0 {
		cfg.duration = 5 * time.Second
		if cfg.quick {
			cfg.duration = time.Second
		}
	}
	cfg.params = fixture.Params{Small: small, BigCount: bigCount, BigSize: bigMB << 20, XZSmall: xz}
	if err := finishScale(); err != nil {
		return cfg, err
	}
	err := cfg.checkChoices(updateDoc)
	return cfg, err
}

// checkChoices reads --update-doc and checks the flags that take one of a
// few words.
func (cfg *settings) checkChoices(updateDoc string) error {
	switch updateDoc {
	case "":
		cfg.updateDoc = !cfg.quick
	case "true", "1":
		cfg.updateDoc = true
	case "false", "0":
	default:
		return fmt.Errorf("--update-doc: want true or false, got %q", updateDoc)
	}
	if cfg.out == "" && !cfg.quick {
		cfg.out = filepath.Join("bench", "results")
	}
	switch cfg.only {
	case "", "mirror", "local", "fleet", "scale":
	default:
		return fmt.Errorf("--only: want mirror, local, fleet or scale, got %q", cfg.only)
	}
	switch cfg.fleetNet {
	case "auto", "netns", "loopback":
	default:
		return fmt.Errorf("--fleet-net: want auto, netns or loopback, got %q", cfg.fleetNet)
	}
	switch cfg.fleetCPUs {
	case "split", "shared":
	default:
		return fmt.Errorf("--fleet-cpus: want split or shared, got %q", cfg.fleetCPUs)
	}
	return nil
}

func missingTools() []string {
	var missing []string
	for _, t := range []string{"nix-build", "nix-store", "nix", "wrk"} {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if _, err := exec.LookPath("nginx"); err != nil {
		if _, err := os.Stat("/usr/sbin/nginx"); err != nil {
			missing = append(missing, "nginx")
		}
	}
	return missing
}

// makeKey makes the signing key of the server under test.
func (b *bench) makeKey() error {
	sec, pub, err := narinfo.GenerateKey("bench-ours-1", rand.Reader)
	if err != nil {
		return err
	}
	b.ourSecret = filepath.Join(b.tmp, "ours.sec")
	b.ourPublic = pub
	return os.WriteFile(b.ourSecret, []byte(sec), 0o600)
}

// withLogs adds the end of the server logs to an error.
func (b *bench) withLogs(err error) error {
	var tails []string
	for _, f := range b.oursLogs {
		data, rerr := os.ReadFile(f)
		if rerr != nil || len(strings.TrimSpace(string(data))) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) > 10 {
			lines = lines[len(lines)-10:]
		}
		tails = append(tails, f+":\n"+strings.Join(lines, "\n"))
	}
	if len(tails) == 0 {
		return err
	}
	return fmt.Errorf("%w\nserver logs:\n%s", err, strings.Join(tails, "\n"))
}

func (b *bench) report(args []string, took time.Duration) *Report {
	r := &Report{
		Date:     time.Now().UTC().Format("2006-01-02 15:04 MST"),
		Command:  strings.TrimSpace("bench/run " + strings.Join(shownArgs(args), " ")),
		Quick:    b.cfg.quick,
		Seconds:  took.Seconds(),
		Machine:  describeMachine(),
		Settings: b.settings(),
		Fleet:    b.fleet,
		Scale:    b.scale,
		index:    map[string]*Measure{},
	}
	for _, id := range b.order {
		m := b.measures[id]
		for k, s := range m.Values {
			m.Values[k] = stats.Of(s.Samples)
		}
		r.Measures = append(r.Measures, m)
		r.index[id] = m
	}
	r.Ratios = computeRatios(b.measures)
	if b.cfg.quick {
		r.Notes = append(r.Notes, "Quick run: a tiny fixture and 1 s loads; it checks that the harness works, its timings mean little.")
	}
	r.Notes = append(r.Notes,
		"Peak RSS is VmHWM; for nginx it is summed over master and workers.",
		"NAR MB/s counts bytes on the wire (compressed as each server sends them), headers included.")
	return r
}

// shownArgs drops --server, which the wrapper adds, from the command shown.
func shownArgs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--server" || a == "-server":
			i++
		case strings.HasPrefix(a, "--server=") || strings.HasPrefix(a, "-server="):
		default:
			out = append(out, a)
		}
	}
	return out
}
