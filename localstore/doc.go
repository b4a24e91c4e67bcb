// Package localstore reads a local Nix store without the Nix daemon: path
// metadata from the Nix database, NARs and .ls listings straight from the
// files, and build logs from the log directory.
//
// A Store is rooted at a directory: "/" for the system store, or DIR for a
// chroot store such as `nix copy --to DIR` makes. Store paths are always
// given in their logical form, /nix/store/<hash>-<name>; the files live at
// ROOT/nix/store and the database at ROOT/nix/var/nix/db/db.sqlite.
//
// The database is opened read-only (modernc.org/sqlite, no cgo) in a way
// that still sees Nix's write-ahead log, so paths Nix registers while the
// Store is open become visible at once. That works for a user who may not
// write the database directory too, such as a system user under
// ProtectSystem=strict (see nixdb.go). Nothing here writes to the store.
//
// WriteNAR serialises a path exactly as `nix-store --dump` does. It writes
// the small NAR framing through its own buffer and hands file bodies to
// io.Copy with an *os.File source, so that a net.Conn or an
// http.ResponseWriter underneath moves them with sendfile.
//
// "Missing" is always reported as an error wrapping fs.ErrNotExist: a path
// unknown to the database, a registered path whose files were deleted, a
// missing build log, and a malformed name, which cannot exist in a store.
package localstore
