package localstore

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
)

// caStore copies the CA fixture into a fresh chroot store and opens it.
func caStore(t *testing.T) (*nixtest.CAFixture, string, *Store) {
	t.Helper()
	fx := nixtest.BuildCA(t)
	dir := fx.ChrootStore(t)
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return fx, dir, s
}

func TestRealisationMatchesNix(t *testing.T) {
	fx, dir, s := caStore(t)
	for _, want := range fx.Realisations(t, dir) {
		got, err := s.Realisation(context.Background(), want.ID)
		if err != nil {
			t.Fatalf("Realisation(%s): %v", want.ID, err)
		}
		if got.ID != want.ID || filepath.Base(got.OutPath) != want.OutPath || !strings.HasPrefix(got.OutPath, "/nix/store/") {
			t.Errorf("Realisation(%s) = %s → %s, want %s", want.ID, got.ID, got.OutPath, want.OutPath)
		}
		if !slices.Equal(got.Signatures, want.Signatures) {
			t.Errorf("%s: signatures %q, want %q", want.ID, got.Signatures, want.Signatures)
		}
		if got.Dependents == nil || len(got.Dependents) != len(want.DependentRealisations) {
			t.Errorf("%s: dependents %v, want %v", want.ID, got.Dependents, want.DependentRealisations)
		}
		for id, p := range want.DependentRealisations {
			if got.Dependents[id] != "/nix/store/"+p {
				t.Errorf("%s: dependent %s → %q, want %s", want.ID, id, got.Dependents[id], p)
			}
		}
	}
}

func TestRealisationMissing(t *testing.T) {
	fx, dir, s := caStore(t)
	const unknown = "sha256:0000000000000000000000000000000000000000000000000000000000000000!out"
	var base nixtest.Realisation
	for _, r := range fx.Realisations(t, dir) {
		if len(r.DependentRealisations) == 0 {
			base = r
		}
	}
	hex, _, _ := strings.Cut(strings.TrimPrefix(base.ID, "sha256:"), "!")
	for _, id := range []string{
		unknown,
		strings.TrimSuffix(base.ID, "!out") + "!dev", // another output
		"",
		"sha256:" + hex, // no output
		"sha256:" + strings.ToUpper(hex) + "!out",
		"sha256:" + hex[1:] + "!out",
		"sha512:" + hex + "!out",
		"sha256:" + hex + "!.out",
		"sha256:" + hex + "!out/../x",
		"sha256:" + hex + "!out' OR '1'='1",
	} {
		if _, err := s.Realisation(context.Background(), id); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Realisation(%q) error = %v, want fs.ErrNotExist", id, err)
		}
	}

	// A database in which ca-derivations was never used has no
	// Realisations table at all.
	plain := nixtest.TempDir(t)
	nixtest.Run(t, nixtest.Env(t), "nix", "copy", "--no-check-sigs", "--to", plain, fx.Dependent)
	ps, err := Open(plain)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if _, err := ps.Realisation(context.Background(), base.ID); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("without a Realisations table: %v, want fs.ErrNotExist", err)
	}
}

// A dependent realisation whose row cannot be named is ErrMalformed.
func TestRealisationMalformed(t *testing.T) {
	fx, dir, s := caStore(t)
	realisations := fx.Realisations(t, dir)
	db, err := sql.Open("sqlite", filepath.Join(dir, "nix/var/nix/db/db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE Realisations SET drvPath = 'md5:x' WHERE id IN (SELECT realisationReference FROM RealisationsRefs)`); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, r := range realisations {
		if len(r.DependentRealisations) == 0 {
			continue
		}
		checked++
		if _, err := s.Realisation(context.Background(), r.ID); !errors.Is(err, ErrMalformed) {
			t.Errorf("Realisation(%s) error = %v, want ErrMalformed", r.ID, err)
		}
	}
	if checked == 0 {
		t.Fatalf("no realisation with dependents in %v", realisations)
	}
}
