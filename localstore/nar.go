package localstore

import (
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

const (
	// flushAt is when buffered framing is handed to the writer.
	flushAt = 32 << 10
	// inlineMax is the largest file body read into the framing buffer
	// instead of being copied on its own: for small files one read beats a
	// flush plus a sendfile call.
	inlineMax = 16 << 10
)

// WriteNAR writes storePath as a NAR, byte for byte what `nix-store --dump`
// writes, and returns the number of bytes written. It fails, leaving a
// truncated NAR behind, when a file changes or vanishes during the dump: a
// caller streaming to a client must then abort the connection.
//
// File bodies go to w through io.Copy from an *os.File, so a *net.TCPConn,
// or an http.ResponseWriter whose Content-Length is set (PathInfo's
// NarSize), sends them with sendfile. Wrapping w in anything that hides its
// ReadFrom method loses that.
func (s *Store) WriteNAR(w io.Writer, storePath string) (int64, error) {
	if err := checkStorePath(storePath); err != nil {
		return 0, err
	}
	d := &dumper{w: w, buf: make([]byte, 0, flushAt+inlineMax+4096)}
	err := d.dump(s.file(storePath))
	if err == nil {
		err = d.flush()
	}
	if err != nil {
		return d.written, fmt.Errorf("write nar of %s: %w", storePath, err)
	}
	return d.written, nil
}

// dumper walks a file tree in NAR order. With w set it writes the NAR; with
// ls set it writes the .ls listing instead. Either way it tracks the NAR
// offset, so listings carry the same narOffset values the NAR has.
type dumper struct {
	w       io.Writer // receives the NAR; nil when listing
	buf     []byte    // NAR framing (and small bodies) not yet written to w
	written int64     // bytes accepted by w
	pos     int64     // NAR offset of the next byte, written or not
	copyBuf []byte    // for io.CopyBuffer when w cannot ReadFrom

	ls *listing // receives the listing; nil when dumping
}

func (d *dumper) dump(p string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	d.str("nix-archive-1")
	return d.node(p, fi.Mode().Type(), fi)
}

// node writes one file system object. typ comes from Lstat or from the
// directory entry, so symlinks are never followed; fi may be nil.
func (d *dumper) node(p string, typ fs.FileMode, fi fs.FileInfo) error {
	d.str("(")
	d.str("type")
	var err error
	switch {
	case typ.IsRegular():
		err = d.regular(p, fi)
	case typ&fs.ModeSymlink != 0:
		err = d.symlink(p)
	case typ.IsDir():
		err = d.directory(p)
	default:
		err = fmt.Errorf("%s: unsupported file type %v", p, typ)
	}
	if err != nil {
		return err
	}
	d.str(")")
	return d.maybeFlush()
}

func (d *dumper) regular(p string, fi fs.FileInfo) error {
	if d.w == nil {
		if fi == nil {
			var err error
			if fi, err = os.Lstat(p); err != nil {
				return err
			}
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s: changed type during listing", p)
		}
		executable := fi.Mode()&0o100 != 0
		d.regularHeader(fi.Size(), executable)
		d.ls.regular(fi.Size(), executable, d.pos)
		d.pos += fi.Size()
		d.pad(int(fi.Size() & 7))
		return nil
	}

	// O_NOFOLLOW: a file swapped for a symlink since the directory was read
	// must not lead out of the store. The size and mode come from the open
	// file, so they match the bytes sent.
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err = f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: changed type during dump", p)
	}
	size := fi.Size()
	d.regularHeader(size, fi.Mode()&0o100 != 0)
	if size <= inlineMax {
		n := len(d.buf)
		d.buf = d.buf[:n+int(size)]
		if _, err := io.ReadFull(f, d.buf[n:]); err != nil {
			return fmt.Errorf("%s: read: %w", p, err)
		}
	} else {
		if err := d.copyBody(p, f, size); err != nil {
			return err
		}
	}
	d.pos += size
	d.pad(int(size & 7))
	return nil
}

// BodySkipper is a writer that discards the start of what it is given, such
// as the bytes before a requested range. SkipBody(n) is asked before a file
// body of n bytes and returns how many of them it takes as written unread,
// so that a range near the end of a NAR does not read the files before it.
type BodySkipper interface {
	SkipBody(n int64) int64
}

// copyBody writes the size bytes of f after the framing already flushed.
func (d *dumper) copyBody(p string, f *os.File, size int64) error {
	if err := d.flush(); err != nil {
		return err
	}
	var skipped int64
	if sk, ok := d.w.(BodySkipper); ok {
		if skipped = sk.SkipBody(size); skipped > 0 {
			if _, err := f.Seek(skipped, io.SeekStart); err != nil {
				return fmt.Errorf("%s: seek: %w", p, err)
			}
			d.written += skipped
		}
	}
	// The limit guards against a growing file; io.LimitedReader over
	// an *os.File still takes the sendfile path of net.TCPConn.
	n, err := io.CopyBuffer(d.w, io.LimitReader(f, size-skipped), d.bufForCopy())
	d.written += n
	if err != nil {
		return err
	}
	if n != size-skipped {
		return fmt.Errorf("%s: shrank from %d to %d bytes during dump", p, size, skipped+n)
	}
	return nil
}

func (d *dumper) regularHeader(size int64, executable bool) {
	d.str("regular")
	if executable {
		d.str("executable")
		d.str("")
	}
	d.str("contents")
	d.u64(uint64(size))
}

func (d *dumper) symlink(p string) error {
	target, err := os.Readlink(p)
	if err != nil {
		return err
	}
	if d.ls != nil {
		d.ls.symlink(target)
	}
	d.str("symlink")
	d.str("target")
	d.str(target)
	return nil
}

func (d *dumper) directory(p string) error {
	// os.ReadDir sorts by name in byte order, as NARs require.
	entries, err := os.ReadDir(p)
	if err != nil {
		return err
	}
	if d.ls != nil {
		d.ls.beginDirectory()
	}
	d.str("directory")
	for _, e := range entries {
		if d.ls != nil {
			d.ls.entry(e.Name())
		}
		d.str("entry")
		d.str("(")
		d.str("name")
		d.str(e.Name())
		d.str("node")
		if err := d.node(p+"/"+e.Name(), e.Type(), nil); err != nil {
			return err
		}
		d.str(")")
	}
	if d.ls != nil {
		d.ls.endDirectory()
	}
	return nil
}

// str writes a NAR string: length, bytes, zero padding to 8.
func (d *dumper) str(s string) {
	d.u64(uint64(len(s)))
	d.pos += int64(len(s))
	if d.w != nil {
		d.buf = append(d.buf, s...)
	}
	d.pad(len(s))
}

func (d *dumper) u64(v uint64) {
	d.pos += 8
	if d.w != nil {
		d.buf = binary.LittleEndian.AppendUint64(d.buf, v)
	}
}

var zeros [8]byte

func (d *dumper) pad(n int) {
	p := padded(n) - n
	d.pos += int64(p)
	if d.w != nil {
		d.buf = append(d.buf, zeros[:p]...)
	}
}

func padded(n int) int { return (n + 7) &^ 7 }

func (d *dumper) maybeFlush() error {
	if len(d.buf) < flushAt {
		return nil
	}
	return d.flush()
}

func (d *dumper) flush() error {
	if d.w == nil || len(d.buf) == 0 {
		return nil
	}
	n, err := d.w.Write(d.buf)
	d.written += int64(n)
	d.buf = d.buf[:0]
	return err
}

func (d *dumper) bufForCopy() []byte {
	if d.copyBuf == nil {
		if _, ok := d.w.(io.ReaderFrom); !ok {
			d.copyBuf = make([]byte, 256<<10)
		}
	}
	return d.copyBuf
}
