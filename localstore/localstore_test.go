package localstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/nixhash"
	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
)

// fixtureOpts keeps the big path small enough for a busy machine.
var fixtureOpts = nixtest.Options{BigSize: 4 << 20}

// chrootStore builds the fixture, copies it into a fresh chroot store and
// opens that.
func chrootStore(t *testing.T) (*nixtest.Fixture, string, *Store) {
	t.Helper()
	fx := nixtest.Build(t, fixtureOpts)
	dir := fx.ChrootStore(t)
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return fx, dir, s
}

func hashPart(storePath string) string { return path.Base(storePath)[:32] }

func TestPathInfoMatchesNix(t *testing.T) {
	fx, dir, s := chrootStore(t)
	env := nixtest.Env(t)
	sec, _, _ := nixtest.Key(t, "localstore-test-1")
	nixtest.Run(t, env, "nix", "store", "sign", "--store", dir, "--key-file", sec, "--recursive", fx.Root)

	want := nixtest.PathInfo(t, env, dir, fx.Paths...)
	for _, p := range fx.Paths {
		t.Run(path.Base(p), func(t *testing.T) {
			got, err := s.PathInfo(context.Background(), hashPart(p))
			if err != nil {
				t.Fatal(err)
			}
			w := want[p]
			wantHash, err := nixhash.ParseAny(w.NarHash, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got.Path != p {
				t.Errorf("Path = %q, want %q", got.Path, p)
			}
			if !bytes.Equal(got.NarHash.Digest(), wantHash.Digest()) || got.NarHash.Algo() != wantHash.Algo() {
				t.Errorf("NarHash = %s, want %s", got.NarHash.Format(nixhash.SRI, true), w.NarHash)
			}
			if got.NarSize != w.NarSize {
				t.Errorf("NarSize = %d, want %d", got.NarSize, w.NarSize)
			}
			wantRefs := []string{}
			for _, r := range w.References {
				wantRefs = append(wantRefs, path.Base(r))
			}
			sort.Strings(wantRefs)
			if gotRefs := append([]string{}, got.References...); !slices.Equal(gotRefs, wantRefs) {
				t.Errorf("References = %v, want %v", gotRefs, wantRefs)
			}
			if !slices.Equal(got.Sigs, w.Signatures) || len(got.Sigs) != 1 {
				t.Errorf("Sigs = %v, want %v (one)", got.Sigs, w.Signatures)
			}
			if wantDeriver := path.Base(w.Deriver); got.Deriver != wantDeriver {
				t.Errorf("Deriver = %q, want %q", got.Deriver, wantDeriver)
			}
			if got.CA != w.CA {
				t.Errorf("CA = %q, want %q", got.CA, w.CA)
			}
			if got.RegistrationTime.IsZero() || got.ID == 0 {
				t.Errorf("RegistrationTime = %v, ID = %d", got.RegistrationTime, got.ID)
			}
		})
	}
}

func TestPathInfoSystemStore(t *testing.T) {
	fx := nixtest.Build(t, fixtureOpts)
	s := openSystemStore(t)
	got, err := s.PathInfo(context.Background(), hashPart(fx.Root))
	if err != nil {
		t.Fatal(err)
	}
	if got.Path != fx.Root || len(got.References) != 5 {
		t.Errorf("PathInfo = %+v, want %s with 5 references", got, fx.Root)
	}
	if !s.Exists(fx.Root) {
		t.Errorf("Exists(%s) = false", fx.Root)
	}
}

func TestOpenMissingDatabase(t *testing.T) {
	_, err := Open(t.TempDir())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of an empty directory: %v, want fs.ErrNotExist", err)
	}
}

func TestMissingPaths(t *testing.T) {
	fx, dir, s := chrootStore(t)
	ctx := context.Background()

	// The hash part just below a real one: the range scan finds the real
	// path, which must then be rejected by the prefix check.
	real := hashPart(fx.File)
	below := real[:31] + "0"
	if below == real {
		below = real[:30] + "00"
	}
	for _, h := range []string{below, "00000000000000000000000000000000", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "short", "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "../../../../etc/passwd0000000000"} {
		if _, err := s.PathInfo(ctx, h); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("PathInfo(%q) error = %v, want fs.ErrNotExist", h, err)
		}
	}

	// Delete the files of a registered path: it must look missing.
	gone := fx.Empty
	if err := os.Chmod(filepath.Join(dir, "nix/store"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, gone)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PathInfo(ctx, hashPart(gone)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("PathInfo of deleted path: %v, want fs.ErrNotExist", err)
	}
	if s.Exists(gone) {
		t.Errorf("Exists of deleted path = true")
	}
	if _, err := s.WriteNAR(io.Discard, gone); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteNAR of deleted path: %v, want fs.ErrNotExist", err)
	}
	if err := s.WriteListing(io.Discard, gone); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteListing of deleted path: %v, want fs.ErrNotExist", err)
	}
	if !s.Exists(fx.File) {
		t.Errorf("Exists(%s) = false", fx.File)
	}
}

func TestInvalidStorePaths(t *testing.T) {
	_, _, s := chrootStore(t)
	h := "0123456789abcdfghijklmnpqrsvwxyz"
	for _, p := range []string{
		"", "/nix/store", "/nix/store/", "/nix/store/" + h, "/nix/store/" + h + "-",
		"/nix/store/" + h + "-a/b", "/nix/store/" + h + "-..", "/nix/store/" + h + "-.x",
		"/nix/store/" + h + "-a b", "/nix/store/../../etc", "/nix/store/" + h[:31] + "e-x",
		"/etc/" + h + "-x", "nix/store/" + h + "-x", "/nix/store/" + h + "-x/",
	} {
		if _, err := s.WriteNAR(io.Discard, p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("WriteNAR(%q) error = %v, want fs.ErrNotExist", p, err)
		}
		if err := s.WriteListing(io.Discard, p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("WriteListing(%q) error = %v, want fs.ErrNotExist", p, err)
		}
		if s.Exists(p) {
			t.Errorf("Exists(%q) = true", p)
		}
	}
}

// A path registered after Open must be visible: the database is read with
// its write-ahead log.
func TestSeesNewRegistrations(t *testing.T) {
	_, dir, s := chrootStore(t)
	file := filepath.Join(t.TempDir(), "added")
	if err := os.WriteFile(file, []byte("added after open\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	added := nixtest.Run(t, nixtest.Env(t), "nix", "store", "add-file", "--store", dir, file)
	got, err := s.PathInfo(context.Background(), hashPart(added))
	if err != nil {
		t.Fatalf("PathInfo of a path added after Open: %v", err)
	}
	if got.Path != added || got.CA == "" {
		t.Errorf("PathInfo = %+v, want %s with a CA", got, added)
	}
}

func TestWriteNARMatchesNix(t *testing.T) {
	fx, dir, s := chrootStore(t)
	env := nixtest.Env(t)
	tests := []struct {
		name, path string
	}{
		{"file", fx.File},
		{"dir with executable and symlink", fx.Dir},
		{"absolute symlink", fx.Refs},
		{"empty directory", fx.Empty},
		{"big file", fx.Big},
		{"root", fx.Root},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got bytes.Buffer
			n, err := s.WriteNAR(&got, tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(got.Len()) {
				t.Errorf("WriteNAR returned %d, wrote %d bytes", n, got.Len())
			}
			info, err := s.PathInfo(context.Background(), hashPart(tt.path))
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(got.Bytes()); !bytes.Equal(sum[:], info.NarHash.Digest()) {
				t.Errorf("NAR hash differs from the database's %s", info.NarHash.Format(nixhash.NixBase32, true))
			}
			if uint64(n) != info.NarSize {
				t.Errorf("NAR size = %d, database says %d", n, info.NarSize)
			}
			want := nixDump(t, env, filepath.Join(dir, tt.path))
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("NAR differs from nix-store --dump (%d vs %d bytes)", got.Len(), len(want))
			}
		})
	}
}

func nixDump(t *testing.T, env []string, file string) []byte {
	t.Helper()
	var out bytes.Buffer
	cmd := execCommand(env, "nix-store", "--dump", file)
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("nix-store --dump %s: %v", file, err)
	}
	return out.Bytes()
}

func TestOpenLog(t *testing.T) {
	_, dir, s := chrootStore(t)
	logDir := filepath.Join(dir, "nix/var/log/nix/drvs")
	plain := "0123456789abcdfghijklmnpqrsvwxyz-plain.drv"
	packed := "1123456789abcdfghijklmnpqrsvwxyz-packed.drv"
	flat := "2123456789abcdfghijklmnpqrsvwxyz-flat.drv"
	writeFile(t, filepath.Join(logDir, plain[:2], plain[2:]), []byte("plain log\n"))
	writeFile(t, filepath.Join(logDir, flat), []byte("flat log\n"))
	var bz bytes.Buffer
	cmd := execCommand(nil, "bzip2", "-c")
	cmd.Stdin = strings.NewReader("compressed log\n")
	cmd.Stdout = &bz
	if err := cmd.Run(); err != nil {
		t.Fatalf("bzip2: %v", err)
	}
	writeFile(t, filepath.Join(logDir, packed[:2], packed[2:]+".bz2"), bz.Bytes())

	tests := []struct {
		name, want string
	}{
		{plain, "plain log\n"},
		{packed, "compressed log\n"},
		{flat, "flat log\n"},
	}
	for _, tt := range tests {
		rc, err := s.OpenLog(tt.name)
		if err != nil {
			t.Errorf("OpenLog(%q): %v", tt.name, err)
			continue
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != tt.want {
			t.Errorf("OpenLog(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}

	for _, name := range []string{
		"3123456789abcdfghijklmnpqrsvwxyz-absent.drv", // valid but missing
		"0123456789abcdfghijklmnpqrsvwxyz-plain",      // no .drv
		"01/23456789abcdfghijklmnpqrsvwxyz-plain.drv",
		"../../../../etc/passwd.drv",
		"0123456789abcdfghijklmnpqrsvwxyz-../x.drv",
		"", ".drv",
	} {
		if _, err := s.OpenLog(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("OpenLog(%q) error = %v, want fs.ErrNotExist", name, err)
		}
	}
}

func writeFile(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPathInfoConcurrent(t *testing.T) {
	fx, _, s := chrootStore(t)
	ctx := context.Background()
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 50; i++ {
				p := fx.Paths[(g+i)%len(fx.Paths)]
				info, err := s.PathInfo(ctx, hashPart(p))
				if err == nil && info.Path != p {
					err = errors.New("PathInfo(" + hashPart(p) + ") = " + info.Path)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// openSystemStore opens the machine's store, closed when tb ends.
func openSystemStore(tb testing.TB) *Store {
	tb.Helper()
	s, err := Open("/")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}
