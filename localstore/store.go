package localstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nix-community/go-nix/pkg/nixhash"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// Store reads one Nix store. It is safe for concurrent use.
type Store struct {
	root string // prefix of every file path; "" for the system store
	db   *nixDB
}

// PathInfo is what the Nix database knows about a valid store path.
type PathInfo struct {
	Path             string        // /nix/store/<hash>-<name>
	NarHash          *nixhash.Hash // never nil, always sha256
	NarSize          uint64        // never 0
	References       []string      // basenames, sorted; may include the path itself
	Deriver          string        // basename of the .drv; "" when unknown
	Sigs             []string      // "name:base64", as stored
	CA               string        // content-address assertion; "" when input-addressed
	RegistrationTime time.Time
	ID               int64 // row id in ValidPaths
}

// byHashQuery finds the first path at or after /nix/store/<hash> (the caller
// checks it has the hash part) together with its references in one
// statement, so both come from the same snapshot of the database.
const byHashQuery = `SELECT v.id, v.path, v.hash, v.registrationTime, v.deriver, v.narSize, v.sigs, v.ca,
	(SELECT group_concat(p.path, ' ') FROM Refs r JOIN ValidPaths p ON p.id = r.reference WHERE r.referrer = v.id)
FROM ValidPaths v WHERE v.path >= ? ORDER BY v.path LIMIT 1`

// Open opens the store rooted at root ("/" for the system store). The error
// wraps fs.ErrNotExist when there is no Nix database.
func Open(root string) (*Store, error) {
	root = filepath.Clean(root)
	dbPath := filepath.Join(root, "nix/var/nix/db/db.sqlite")
	if _, err := os.Stat(dbPath); err != nil {
		return nil, fmt.Errorf("open nix database: %w", err)
	}
	db, err := openNixDB(dbPath)
	if err != nil {
		return nil, err
	}
	if root == "/" {
		root = ""
	}
	return &Store{root: root, db: db}, nil
}

// Close releases the database.
func (s *Store) Close() error {
	return s.db.close()
}

// file returns where the files of a logical store path live.
func (s *Store) file(storePath string) string {
	return s.root + storePath
}

// ErrMalformed is wrapped by PathInfo's error when the database row of a
// path cannot make a narinfo: an undecodable or non-sha256 hash, or no
// positive NAR size.
var ErrMalformed = errors.New("malformed nix database row")

// PathInfo looks up the valid path with the given hash part. The error wraps
// fs.ErrNotExist when there is none, or when its files have been deleted,
// and ErrMalformed when its row is unusable.
func (s *Store) PathInfo(ctx context.Context, hashPart string) (*PathInfo, error) {
	if !narinfo.ValidHashPart(hashPart) {
		return nil, invalid("hash part", hashPart)
	}
	prefix := storeDir + "/" + hashPart
	var (
		info                    PathInfo
		hash                    string
		regTime                 int64
		deriver, sigs, ca, refs sql.NullString
		narSize                 sql.NullInt64
	)
	err := s.db.queryByHash(ctx, prefix, &info.ID, &info.Path, &hash, &regTime,
		&deriver, &narSize, &sigs, &ca, &refs)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !strings.HasPrefix(info.Path, prefix+"-") {
		return nil, fmt.Errorf("path info %s: %w", hashPart, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("path info %s: query nix database: %w", hashPart, err)
	}
	if _, err := os.Lstat(s.file(info.Path)); err != nil {
		return nil, fmt.Errorf("path info %s: registered but unreadable: %w", info.Path, err)
	}

	h, err := nixhash.ParseAny(hash, nil)
	switch {
	case err != nil:
		return nil, fmt.Errorf("path info %s: %w: nar hash %q: %v", info.Path, ErrMalformed, hash, err)
	case h.Algo() != nixhash.SHA256:
		return nil, fmt.Errorf("path info %s: %w: nar hash %q is not sha256", info.Path, ErrMalformed, hash)
	case !narSize.Valid || narSize.Int64 <= 0:
		return nil, fmt.Errorf("path info %s: %w: nar size %v", info.Path, ErrMalformed, narSize)
	}
	info.NarHash = &h.Hash
	info.NarSize = uint64(narSize.Int64)
	info.RegistrationTime = time.Unix(regTime, 0)
	if deriver.String != "" {
		info.Deriver = filepath.Base(deriver.String)
	}
	info.Sigs = strings.Fields(sigs.String)
	info.CA = ca.String
	info.References = strings.Fields(refs.String)
	for i, r := range info.References {
		info.References[i] = strings.TrimPrefix(r, storeDir+"/")
	}
	sort.Strings(info.References)
	return &info, nil
}

// Exists reports whether the files of storePath are present: a cheap check
// that does not consult the database.
func (s *Store) Exists(storePath string) bool {
	if checkStorePath(storePath) != nil {
		return false
	}
	_, err := os.Lstat(s.file(storePath))
	return err == nil
}
