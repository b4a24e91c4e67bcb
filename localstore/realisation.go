package localstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// Realisation says which store path an output of a content-addressed
// derivation (Nix's ca-derivations) was built to, as the Nix database
// records it.
type Realisation struct {
	ID         string   // "sha256:<hex>!<output>": the derivation's hash modulo and the output name
	OutPath    string   // /nix/store/<hash>-<name>
	Signatures []string // "name:base64", as stored; nil when unsigned
	// Dependents maps the ID of each realisation this one was built from
	// to its out path (/nix/store/...); empty, never nil, when there are none.
	Dependents map[string]string
}

// realisationQuery finds a realisation with its out path and those of the
// realisations it depends on, in one statement so that all come from one
// snapshot of the database. Of several rows for one id, Nix reads the first.
const realisationQuery = `SELECT v.path, r.signatures,
	(SELECT group_concat(d.drvPath || '!' || d.outputName || ' ' || p.path, ' ')
	 FROM RealisationsRefs x JOIN Realisations d ON d.id = x.realisationReference
	 JOIN ValidPaths p ON p.id = d.outputPath WHERE x.referrer = r.id)
FROM Realisations r JOIN ValidPaths v ON v.id = r.outputPath
WHERE r.drvPath = ? AND r.outputName = ? ORDER BY r.id LIMIT 1`

// Realisation looks up the realisation with the given id. The error wraps
// fs.ErrNotExist when there is none (also when the database has no
// realisations table: Nix creates it only once ca-derivations is enabled),
// when its out path's files are gone, or when id is malformed; and
// ErrMalformed when its rows are unusable.
func (s *Store) Realisation(ctx context.Context, id string) (*Realisation, error) {
	drvHash, output, ok := narinfo.SplitRealisationID(id)
	if !ok {
		return nil, invalid("realisation id", id)
	}
	var (
		outPath    string
		sigs, deps sql.NullString
	)
	err := s.db.query(ctx, func(c *dbConn) error {
		err := c.db.QueryRowContext(ctx, realisationQuery, drvHash, output).Scan(&outPath, &sigs, &deps)
		if err != nil && strings.Contains(err.Error(), "no such table") {
			return sql.ErrNoRows // an answer too: there are no realisations
		}
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("realisation %s: %w", id, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("realisation %s: query nix database: %w", id, err)
	}
	if checkStorePath(outPath) != nil {
		return nil, fmt.Errorf("realisation %s: %w: out path %q", id, ErrMalformed, outPath)
	}
	if _, err := os.Lstat(s.file(outPath)); err != nil {
		return nil, fmt.Errorf("realisation %s: out path %s unreadable: %w", id, outPath, err)
	}
	r := &Realisation{ID: id, OutPath: outPath, Signatures: strings.Fields(sigs.String), Dependents: map[string]string{}}
	fields := strings.Fields(deps.String)
	if len(fields)%2 != 0 {
		return nil, fmt.Errorf("realisation %s: %w: dependent realisations %q", id, ErrMalformed, deps.String)
	}
	for i := 0; i < len(fields); i += 2 {
		depID, depPath := fields[i], fields[i+1]
		if _, _, ok := narinfo.SplitRealisationID(depID); !ok || checkStorePath(depPath) != nil {
			return nil, fmt.Errorf("realisation %s: %w: dependent realisation %q → %q", id, ErrMalformed, depID, depPath)
		}
		r.Dependents[depID] = depPath
	}
	return r, nil
}
