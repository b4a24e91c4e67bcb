package localstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
)

// Reading the Nix database without write access to its directory.
//
// The database is in WAL mode. An ordinary read-only connection reads the
// write-ahead log through the -shm file; SQLite can do that read-only only
// when db.sqlite-wal and db.sqlite-shm already exist, that is while some
// connection has the database open (Nix creates them 0644). When none has,
// the files are absent, a user who cannot create them gets
// SQLITE_READONLY_DIRECTORY or SQLITE_CANTOPEN, and the main file alone is
// the whole database. So we always try the ordinary connection first, and
// only when it fails that way open the database with immutable=1, as Nix
// itself does for its read-only store setting, made safe thus:
//
//   - Before opening it we take SQLite's SHARED lock on db.sqlite (see
//     lockShared) and hold it until the connection is replaced, as every
//     WAL reader holds its own. A writer can then neither checkpoint and
//     delete the WAL on close nor change the journal mode, both of which
//     need EXCLUSIVE: so long as db.sqlite-wal is absent, db.sqlite cannot
//     change.
//   - After each query we stat db.sqlite-wal (and db.sqlite, in case the
//     file was replaced). If the WAL appeared, a writer has been active and
//     the immutable view (and its page cache) may be stale: the result is
//     dropped and the query runs again on an ordinary connection, which now
//     works. Because the WAL cannot vanish while we hold the lock, "absent
//     after the query" means "absent throughout", so the result is current.
//
// A user who can write the directory (root) never leaves the ordinary
// connection, and neither does anyone once the WAL exists: our own
// connections then keep it from being deleted.

const (
	// openTimeout bounds how long a switch of connection waits for a
	// writer's lock or for a fresh WAL's -shm file to appear.
	openTimeout = 5 * time.Second
	retryDelay  = 2 * time.Millisecond
	// maxSwitches bounds the connection switches within one query.
	maxSwitches = 4
)

// nixDB reads one Nix database through whichever connection currently works.
type nixDB struct {
	path string                 // .../nix/var/nix/db/db.sqlite
	cur  atomic.Pointer[dbConn] // never nil while open

	mu       sync.Mutex // serialises switching; guards the fields below
	lockFile *os.File   // db.sqlite, for lockShared; nil until needed
	locked   bool       // lockFile holds SHARED
}

// dbConn is one connection pool with the prepared lookup.
type dbConn struct {
	db     *sql.DB
	byHash *sql.Stmt
	// Set only for immutable connections:
	immutable bool
	stamp     fileStamp // db.sqlite when the connection was opened
}

// fileStamp identifies a file and its content cheaply.
type fileStamp struct{ fi os.FileInfo }

func (a fileStamp) equal(b fileStamp) bool {
	return os.SameFile(a.fi, b.fi) && a.fi.Size() == b.fi.Size() && a.fi.ModTime().Equal(b.fi.ModTime())
}

func openNixDB(path string) (*nixDB, error) {
	d := &nixDB{path: path}
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.open()
	if err != nil {
		return nil, errors.Join(err, d.closeLock())
	}
	d.cur.Store(c)
	if err := d.unlockUnless(c); err != nil {
		return nil, errors.Join(err, c.close(), d.closeLock())
	}
	return d, nil
}

func (d *nixDB) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	// SQLite first: closing lockFile drops this process's POSIX locks.
	return errors.Join(d.cur.Load().close(), d.closeLock())
}

// queryByHash runs byHashQuery with arg and scans the row into dest. It
// returns sql.ErrNoRows when there is none.
func (d *nixDB) queryByHash(ctx context.Context, arg string, dest ...any) error {
	return d.query(ctx, func(c *dbConn) error {
		return c.byHash.QueryRowContext(ctx, arg).Scan(dest...)
	})
}

// query runs one read on whichever connection currently works. read
// returns nil or sql.ErrNoRows when it got an answer; any other error may
// mean the connection cannot read the database as it is now.
func (d *nixDB) query(ctx context.Context, read func(*dbConn) error) error {
	for switches := 0; ; switches++ {
		c := d.cur.Load()
		err := read(c)
		found := err == nil || errors.Is(err, sql.ErrNoRows)
		switch {
		case found && (!c.immutable || c.current(d.path)):
			return err
		case !found && d.cur.Load() != c:
			continue // c was closed by a switch under our feet: use the new one
		case !found && !walUnavailable(err):
			return err
		}
		// The ordinary connection cannot read the WAL, or the immutable one
		// has become stale.
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if switches == maxSwitches {
			return fmt.Errorf("nix database %s keeps changing between read modes", d.path)
		}
		if err := d.switchFrom(c); err != nil {
			return err
		}
	}
}

// switchFrom replaces old with a connection that suits the database now,
// unless another query did so already.
func (d *nixDB) switchFrom(old *dbConn) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur.Load() != old {
		return nil
	}
	c, err := d.open()
	if err != nil {
		return errors.Join(err, d.unlockUnless(old))
	}
	d.cur.Store(c)
	// Close waits for queries still running on old, which then see d.cur
	// changed; an immutable old needs the lock until then.
	if err := errors.Join(old.close(), d.unlockUnless(c)); err != nil {
		return fmt.Errorf("close previous connection to %s: %w", d.path, err)
	}
	return nil
}

// open opens an ordinary read-only connection when SQLite can read the
// WAL, and an immutable one when there is no WAL to read. d.mu is held.
func (d *nixDB) open() (*dbConn, error) {
	deadline := time.Now().Add(openTimeout)
	for {
		// mode=ro and query_only keep us from ever writing.
		c, err := openPool(d.path, "mode=ro&_pragma=busy_timeout(5000)&_pragma=query_only(1)", 8)
		if err == nil || !walUnavailable(err) {
			return c, err
		}
		c, err = d.openImmutable(deadline)
		if !errors.Is(err, errWALPresent) {
			return c, err
		}
		// A writer has just opened the database and is still creating
		// the -shm file; or a crashed one left its WAL, which only a
		// process that may write can recover.
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("open nix database %s: its write-ahead log exists but cannot be read without write access to the directory", d.path)
		}
		time.Sleep(retryDelay)
	}
}

var errWALPresent = errors.New("write-ahead log present")

// openImmutable opens the database with immutable=1 under a SHARED lock, or
// fails with errWALPresent. d.mu is held.
func (d *nixDB) openImmutable(deadline time.Time) (*dbConn, error) {
	if err := d.lock(deadline); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(d.path + "-wal"); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			return nil, errWALPresent
		}
		return nil, fmt.Errorf("open nix database: %w", err)
	}
	fi, err := d.lockFile.Stat()
	if err != nil {
		return nil, fmt.Errorf("open nix database: %w", err)
	}
	// Pages are cached for the life of the connection, so each connection
	// of a pool caches its own copy: a few are enough.
	c, err := openPool(d.path, "mode=ro&immutable=1&_pragma=query_only(1)", 4)
	if err != nil {
		return nil, err
	}
	c.immutable, c.stamp = true, fileStamp{fi}
	return c, nil
}

// lock holds SHARED on the file now at d.path. d.mu is held.
func (d *nixDB) lock(deadline time.Time) error {
	if d.lockFile != nil {
		fi, err := d.lockFile.Stat()
		cur, errCur := os.Stat(d.path)
		if err == nil && errCur == nil && os.SameFile(fi, cur) {
			if d.locked {
				return nil
			}
			return d.setLocked(lockShared(d.lockFile, deadline))
		}
		// The database was replaced: its old file no longer matters.
		if err := d.closeLock(); err != nil {
			return err
		}
	}
	f, err := os.Open(d.path)
	if err != nil {
		return fmt.Errorf("lock nix database: %w", err)
	}
	d.lockFile = f
	return d.setLocked(lockShared(f, deadline))
}

// unlockUnless releases SHARED unless c needs it. d.mu is held.
func (d *nixDB) unlockUnless(c *dbConn) error {
	if !d.locked || c.immutable {
		return nil
	}
	d.locked = false
	return unlockShared(d.lockFile)
}

func (d *nixDB) setLocked(err error) error {
	d.locked = err == nil
	return err
}

func (d *nixDB) closeLock() error {
	if d.lockFile == nil {
		return nil
	}
	err := d.lockFile.Close()
	d.lockFile, d.locked = nil, false
	return err
}

func openPool(path, params string, conns int) (*dbConn, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?"+params)
	if err != nil {
		return nil, fmt.Errorf("open nix database %s: %w", path, err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	// Preparing reads the schema, so this also proves the database readable.
	stmt, err := db.Prepare(byHashQuery)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("prepare query on nix database %s: %w", path, err)
	}
	return &dbConn{db: db, byHash: stmt}, nil
}

// current reports whether an immutable connection still shows the whole
// database: no WAL has appeared and db.sqlite is the same file.
func (c *dbConn) current(path string) bool {
	if _, err := os.Lstat(path + "-wal"); !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	fi, err := os.Stat(path)
	return err == nil && c.stamp.equal(fileStamp{fi})
}

func (c *dbConn) close() error {
	return errors.Join(c.byHash.Close(), c.db.Close())
}

// walUnavailable reports whether err means SQLite could not open or
// initialise the WAL files read-only (SQLITE_READONLY_*, SQLITE_CANTOPEN*).
func walUnavailable(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	const sqliteReadonly, sqliteCantopen = 8, 14
	code := se.Code() & 0xff
	return code == sqliteReadonly || code == sqliteCantopen
}
