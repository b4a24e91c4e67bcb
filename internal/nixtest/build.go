package nixtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Options selects the shape of a fixture closure. The zero value is a
// closure with a 10 MiB big path and no extra small paths.
type Options struct {
	// BigSize is the size in bytes of the big path; 0 means 10<<20.
	// Its first half is random, its second half repeated text, so that
	// compressors have something to gain but cannot shrink it to nothing.
	BigSize int
	// Many is the number of extra small paths with references; 0 means none.
	Many int
}

// Fixture is a closure built into the real /nix/store.
type Fixture struct {
	Root  string   // top store path (/nix/store/...-fx-top)
	Paths []string // full closure of Root, /nix/store/... sorted
	Big   string   // the big path

	File  string   // a regular, non-executable file
	Dir   string   // a directory with bin/hello (executable), share/link (relative symlink) and share/doc/README
	Refs  string   // a directory referencing File and Dir, with an absolute symlink into Dir
	Empty string   // an empty directory
	Many  []string // the Options.Many small paths, sorted; nil when Many is 0
}

// salt makes every test binary run build fresh paths, so a test never
// sees state (signatures, cached copies) left behind by an earlier run.
var salt = func() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}()

type buildResult struct {
	once sync.Once
	fx   *Fixture
	err  error
}

var (
	buildsMu sync.Mutex
	builds   = map[Options]*buildResult{}
)

// Build builds (once per test binary per Options) a closure with: a file, a
// directory with an executable and a symlink, a path referencing others, a
// path of BigSize bytes, an empty directory, and the top path referencing
// all; each build salted so paths are fresh.
func Build(t testing.TB, opts Options) *Fixture {
	t.Helper()
	Require(t)
	if opts.BigSize <= 0 {
		opts.BigSize = 10 << 20
	}
	if opts.Many < 0 {
		opts.Many = 0
	}
	buildsMu.Lock()
	r, ok := builds[opts]
	if !ok {
		r = &buildResult{}
		builds[opts] = r
	}
	buildsMu.Unlock()
	r.once.Do(func() { r.fx, r.err = build(Env(t), opts) })
	if r.err != nil {
		t.Fatalf("build fixture %+v: %v", opts, r.err)
	}
	return r.fx
}

func build(env []string, opts Options) (*Fixture, error) {
	dir, err := os.MkdirTemp("", "nixtest-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "fixture.nix")
	if err := os.WriteFile(file, []byte(expression(opts)), 0o644); err != nil {
		return nil, err
	}
	root, err := run(env, "nix-build", "--no-out-link", file)
	if err != nil {
		return nil, err
	}
	closure, err := run(env, "nix-store", "--query", "--requisites", root)
	if err != nil {
		return nil, err
	}
	fx := &Fixture{Root: root, Paths: strings.Fields(closure)}
	sort.Strings(fx.Paths)
	for _, p := range fx.Paths {
		base := path.Base(p)
		if len(base) < 33 {
			return nil, fmt.Errorf("unexpected store path %q", p)
		}
		switch name := base[33:]; {
		case name == "fx-file":
			fx.File = p
		case name == "fx-dir":
			fx.Dir = p
		case name == "fx-refs":
			fx.Refs = p
		case name == "fx-big":
			fx.Big = p
		case name == "fx-empty":
			fx.Empty = p
		case strings.HasPrefix(name, "fx-many-m"):
			fx.Many = append(fx.Many, p)
		}
	}
	if fx.File == "" || fx.Dir == "" || fx.Refs == "" || fx.Big == "" || fx.Empty == "" || len(fx.Many) != opts.Many {
		return nil, fmt.Errorf("closure of %s lacks fixture paths: %v", root, fx.Paths)
	}
	return fx, nil
}

// expression returns the Nix expression of the fixture closure. Builds have
// no PATH, so tools are named by absolute path; the scripts avoid the shell
// form "${" which Nix would take for interpolation.
func expression(opts Options) string {
	half := opts.BigSize / 2
	var b strings.Builder
	fmt.Fprintf(&b, `let
  salt = "%s";
  mk = name: script: derivation {
    inherit name salt;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" script ];
  };
  file = mk "fx-file" ''
    echo "a regular file of the test fixture" > $out
  '';
  dir = mk "fx-dir" ''
    /bin/mkdir -p $out/bin $out/share/doc
    printf '#!/bin/sh\necho hello\n' > $out/bin/hello
    /bin/chmod 0755 $out/bin/hello
    /bin/ln -s ../bin/hello $out/share/link
    echo "documentation" > $out/share/doc/README
  '';
  refs = mk "fx-refs" ''
    /bin/mkdir $out
    echo ${file} > $out/file-ref
    /bin/ln -s ${dir}/bin/hello $out/hello
  '';
  big = mk "fx-big" ''
    /usr/bin/head -c %d /dev/urandom > $out
    /usr/bin/yes "compressible text of the big fixture path" | /usr/bin/head -c %d >> $out
  '';
  empty = mk "fx-empty" ''
    /bin/mkdir $out
  '';
`, salt, half, opts.BigSize-half)
	manyRef := ""
	if opts.Many > 0 {
		// One derivation with many outputs: one build makes all the small
		// paths. Output i refers to the file and to output i/2, so the
		// reference graph is wide and shallow; "out" lists them all.
		outs := make([]string, opts.Many)
		for i := range outs {
			outs[i] = fmt.Sprintf(`"m%d"`, i+1)
		}
		fmt.Fprintf(&b, `  many = derivation {
    name = "fx-many";
    inherit salt;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    outputs = [ "out" %s ];
    args = [ "-c" ''
      : > $out
      i=1
      while [ $i -le %d ]; do
        eval "o=\$m$i"
        echo "small path $i" ${file} > $o
        j=$((i / 2))
        if [ $j -ge 1 ]; then eval "r=\$m$j"; echo $r >> $o; fi
        echo $o >> $out
        i=$((i + 1))
      done
    '' ];
  };
`, strings.Join(outs, " "), opts.Many)
		manyRef = " ${many}"
	}
	fmt.Fprintf(&b, `in mk "fx-top" ''
  /bin/mkdir $out
  echo ${file} ${dir} ${refs} ${big} ${empty}%s > $out/refs
''
`, manyRef)
	return b.String()
}
