package nixtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuild(t *testing.T) {
	fx := Build(t, Options{BigSize: 1 << 20, Many: 5})
	if again := Build(t, Options{BigSize: 1 << 20, Many: 5}); again != fx {
		t.Errorf("second Build with the same options built again")
	}
	named := map[string]string{"Root": fx.Root, "File": fx.File, "Dir": fx.Dir, "Refs": fx.Refs, "Big": fx.Big, "Empty": fx.Empty}
	for name, p := range named {
		if !strings.HasPrefix(p, "/nix/store/") {
			t.Errorf("%s = %q, want a store path", name, p)
		}
	}
	// 6 named paths, 5 small ones and the list of them.
	if got, want := len(fx.Paths), 6+5+1; got != want {
		t.Errorf("closure has %d paths, want %d: %v", got, want, fx.Paths)
	}
	if got := len(fx.Many); got != 5 {
		t.Errorf("Many has %d paths, want 5", got)
	}

	st, err := os.Stat(fx.Big)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Size(), int64(1<<20); got != want {
		t.Errorf("big path size = %d, want %d", got, want)
	}
	st, err = os.Stat(filepath.Join(fx.Dir, "bin/hello"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&0o100 == 0 {
		t.Errorf("bin/hello is not executable: %v", st.Mode())
	}
	target, err := os.Readlink(filepath.Join(fx.Dir, "share/link"))
	if err != nil || target != "../bin/hello" {
		t.Errorf("share/link = %q, %v; want ../bin/hello", target, err)
	}
	entries, err := os.ReadDir(fx.Empty)
	if err != nil || len(entries) != 0 {
		t.Errorf("empty path has %d entries, %v", len(entries), err)
	}

	env := Env(t)
	refs := Run(t, env, "nix-store", "--query", "--references", fx.Root)
	for _, p := range []string{fx.File, fx.Dir, fx.Refs, fx.Big, fx.Empty} {
		if !strings.Contains(refs, p) {
			t.Errorf("root does not reference %s; references:\n%s", p, refs)
		}
	}
}

func TestChrootStoreAndExport(t *testing.T) {
	fx := Build(t, Options{BigSize: 1 << 20})
	env := Env(t)
	dir := fx.ChrootStore(t)
	if _, err := os.Stat(filepath.Join(dir, "nix/var/nix/db/db.sqlite")); err != nil {
		t.Fatalf("chroot store has no database: %v", err)
	}
	local := PathInfo(t, env, "", fx.Paths...)
	chroot := PathInfo(t, env, dir, fx.Paths...)
	for _, p := range fx.Paths {
		got, want := chroot[p], local[p]
		if got.NarHash == "" || got.NarHash != want.NarHash || got.NarSize != want.NarSize {
			t.Errorf("%s: chroot %+v, local %+v", p, got, want)
		}
	}

	sec, _, pub := Key(t, "nixtest-1")
	if !strings.HasPrefix(pub, "nixtest-1:") {
		t.Errorf("public key = %q", pub)
	}
	cache := fx.ExportCache(t, "none", sec)
	infos := PathInfo(t, env, "file://"+cache, fx.Root)
	sigs := infos[fx.Root].Signatures
	if len(sigs) != 1 || !strings.HasPrefix(sigs[0], "nixtest-1:") {
		t.Errorf("exported root signatures = %v", sigs)
	}
	if local := PathInfo(t, env, "", fx.Root)[fx.Root].Signatures; len(local) != 0 {
		t.Errorf("export signed the local store: %v", local)
	}
}
