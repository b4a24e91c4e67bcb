// Command limits reports Go files and functions over the project's size
// limits: files over -max-file-lines lines, non-test functions over
// -max-func-lines lines, and the functions listed in a gocyclo report
// (-cyclo). Findings named in the allow-list (-allow) are tolerated; an
// allow-list entry that no longer matches anything is itself a finding, so
// the list shrinks as code is fixed. It exits 1 when anything is left.
//
//	limits -allow .ci/limits-allow -cyclo gocyclo.txt $(git ls-files '*.go')
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

func main() {
	allowPath := flag.String("allow", "", "allow-list file: one `path` or `path:function` per line, # comments")
	cycloPath := flag.String("cyclo", "", "output of `gocyclo -over N`, one function per line")
	maxFile := flag.Int("max-file-lines", 400, "most lines a .go file may have")
	maxFunc := flag.Int("max-func-lines", 80, "most lines a non-test function may have")
	flag.Parse()

	code, err := run(os.Stdout, *allowPath, *cycloPath, *maxFile, *maxFunc, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "limits:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func run(w io.Writer, allowPath, cycloPath string, maxFile, maxFunc int, files []string) (int, error) {
	var findings []finding
	for _, path := range files {
		fs, err := measureFile(path, maxFile, maxFunc)
		if err != nil {
			return 0, err
		}
		findings = append(findings, fs...)
	}
	if cycloPath != "" {
		fs, err := readCyclo(cycloPath)
		if err != nil {
			return 0, err
		}
		findings = append(findings, fs...)
	}
	allow := map[string]bool{}
	if allowPath != "" {
		var err error
		if allow, err = readAllowList(allowPath); err != nil {
			return 0, err
		}
	}

	over, stale := filter(findings, allow)
	for _, f := range over {
		fmt.Fprintf(w, "%s: %s\n", f.key, f.what)
	}
	for _, key := range stale {
		fmt.Fprintf(w, "%s: in %s but no longer over a limit; remove it there\n", key, allowPath)
	}
	if len(over) > 0 || len(stale) > 0 {
		return 1, nil
	}
	return 0, nil
}

// A finding is one thing over a limit. key is "path" for a file and
// "path:function" for a function, the form the allow-list uses.
type finding struct {
	key  string
	what string
}

// filter drops the allowed findings and returns the rest, and the allow-list
// entries that matched nothing, both sorted.
func filter(findings []finding, allow map[string]bool) (over []finding, stale []string) {
	used := map[string]bool{}
	for _, f := range findings {
		if allow[f.key] {
			used[f.key] = true
			continue
		}
		over = append(over, f)
	}
	for key := range allow {
		if !used[key] {
			stale = append(stale, key)
		}
	}
	sort.Slice(over, func(i, j int) bool {
		if over[i].key != over[j].key {
			return over[i].key < over[j].key
		}
		return over[i].what < over[j].what
	})
	sort.Strings(stale)
	return over, stale
}

func readAllowList(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	allow := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		allow[line] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return allow, nil
}
