package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// funcOf returns a Go function declaration of exactly n lines.
func funcOf(decl string, n int) string {
	return decl + " {\n" + strings.Repeat("\t_ = 0\n", n-2) + "}\n"
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "a.go")
	writeFile(t, src, "package a\n\ntype T struct{}\n\n"+
		funcOf("func short()", 5)+funcOf("func (t *T) long()", 6)+funcOf("func (T) edge()", 5))
	long := filepath.Join(dir, "long_test.go")
	writeFile(t, long, "package a\n\n"+funcOf("func testLong()", 40))
	cyclo := filepath.Join(dir, "cyclo.txt")
	writeFile(t, cyclo, "21 a (T).edge "+src+":12:1\n")
	allow := filepath.Join(dir, "allow")

	for _, tc := range []struct {
		name     string
		allow    string
		wantCode int
		want     []string
	}{
		{
			name:     "nothing allowed",
			wantCode: 1,
			want: []string{
				src + ":(*T).long: 6 lines (limit 5)",
				src + ":(T).edge: cyclomatic complexity 21",
				long + ": 42 lines (limit 30)",
			},
		},
		{
			name:     "all allowed",
			allow:    "# comment\n\n" + src + ":(*T).long\n" + src + ":(T).edge\n" + long + "\n",
			wantCode: 0,
		},
		{
			name:     "stale entry",
			allow:    src + ":(*T).long\n" + src + ":(T).edge\n" + long + "\n" + src + ":short\n",
			wantCode: 1,
			want:     []string{src + ":short: in " + allow + " but no longer over a limit"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, allow, tc.allow)
			var out strings.Builder
			code, err := run(&out, allow, cyclo, 30, 5, []string{src, long})
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d; output:\n%s", code, tc.wantCode, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if tc.wantCode == 0 && out.Len() > 0 {
				t.Errorf("unexpected output:\n%s", out.String())
			}
		})
	}
}
