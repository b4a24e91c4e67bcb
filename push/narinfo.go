package push

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// storeDir is the only store this cache serves.
const storeDir = "/nix/store/"

// PutNarInfo takes an uploaded narinfo: the commit point of a path. It is
// stored only when its NAR was received and matches it (FileHash and
// FileSize when given, NarHash and NarSize always), every reference is
// known, and it is signed by a trusted key or comes from an uploader who
// may have the server sign it. The stored narinfo points at our URL and
// carries our signatures.
func (u *Uploads) PutNarInfo(ctx context.Context, text []byte, by Uploader) error {
	ni, err := narinfo.ParseBytes(text)
	if err != nil {
		return errorf(KindInvalid, "narinfo does not parse: %v", err)
	}
	hashPart := ni.HashPart()
	if hashPart == "" || !strings.HasPrefix(ni.StorePath, storeDir) || strings.Count(ni.StorePath, "/") != 3 {
		return errorf(KindInvalid, "narinfo: StorePath %q is not a path of %s", ni.StorePath, storeDir)
	}
	name, ok := strings.CutPrefix(ni.URL, "nar/")
	if !ok || !ValidNARName(name) {
		return errorf(KindInvalid, "narinfo %s: URL %q is not nar/<hash>.nar[.xz|.zst|.bz2]", hashPart, ni.URL)
	}
	comp := ni.Compression
	if comp == "" {
		comp = "bzip2" // what Nix reads an absent Compression as
	}
	if want, _ := compressionOf(name); comp != want {
		return errorf(KindInvalid, "narinfo %s: Compression %q, but the NAR %s is %s", hashPart, ni.Compression, name, want)
	}
	rec, err := u.receivedNAR(name)
	if errors.Is(err, fs.ErrNotExist) {
		return errorf(KindInvalid, "narinfo %s: its NAR %s was not uploaded", hashPart, ni.URL)
	} else if err != nil {
		return fmt.Errorf("narinfo %s: %w", hashPart, err)
	}
	if err := matches(ni, rec); err != nil {
		return errorf(KindInvalid, "narinfo %s: %v", hashPart, err)
	}
	if err := u.checkReferences(ctx, ni); err != nil {
		return err
	}
	if err := u.checkSigned(ni, by); err != nil {
		return err
	}
	stored := ni.Clone()
	stored.URL = URLPrefix + hashPart + "/" + name
	stored.Compression = comp
	stored.FileHash = sha256Hash(rec.fileHash)
	stored.FileSize = rec.fileSize
	if err := stored.Sign(u.opts.SignKeys...); err != nil {
		return errorf(KindInvalid, "narinfo %s: %v", hashPart, err)
	}
	err = u.opts.Store.PutNarInfo(stored, name)
	if errors.Is(err, fs.ErrNotExist) {
		return errorf(KindInvalid, "narinfo %s: its NAR %s was removed meanwhile (expired): upload it again", hashPart, ni.URL)
	} else if err != nil {
		return fmt.Errorf("narinfo %s: %w", hashPart, err)
	}
	u.log.Info("path pushed", "path", ni.StorePath, "nar_size", ni.NarSize, "by", by.Name)
	return nil
}

// checkSigned refuses a narinfo that no key trusted for pushes signed,
// unless its uploader may have the server sign it and the server can.
func (u *Uploads) checkSigned(ni *narinfo.NarInfo, by Uploader) error {
	if ni.Verify(u.opts.Trusted) {
		return nil
	}
	if by.MaySign && len(u.opts.SignKeys) > 0 {
		return nil
	}
	return errorf(KindInvalid, "narinfo %s: no signature by a key trusted for pushes (sign it with nix store sign, or push with a token of the sign scope)", ni.HashPart())
}

// receivedNAR returns what was measured of the NAR file name: from
// memory when it came lately, else by hashing the stored file again.
func (u *Uploads) receivedNAR(name string) (received, error) {
	if !u.opts.Store.HasNAR(name) {
		return received{}, fs.ErrNotExist // never came, or removed since
	}
	if rec, ok := u.pending.get(name); ok {
		return rec, nil
	}
	f, err := u.opts.Store.OpenNAR(name)
	if err != nil {
		return received{}, err
	}
	defer f.Close()
	comp, _ := compressionOf(name)
	rec, err := u.measure(comp, f, discard{})
	if KindOf(err) != 0 {
		return received{}, errorf(KindInvalid, "stored NAR %s: %v", name, err)
	} else if err != nil {
		return received{}, err
	}
	rec.name = name
	u.pending.put(rec)
	return rec, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// matches compares the narinfo's hashes and sizes with what was received.
func matches(ni *narinfo.NarInfo, rec received) error {
	if ni.FileHash != nil && !sameSHA256(ni.FileHash, rec.fileHash) {
		return errors.New("FileHash does not match the NAR file uploaded")
	}
	if ni.FileSize != 0 && ni.FileSize != rec.fileSize {
		return fmt.Errorf("FileSize is %d, the NAR file uploaded has %d bytes", ni.FileSize, rec.fileSize)
	}
	if !sameSHA256(ni.NarHash, rec.narHash) {
		return errors.New("NarHash does not match the NAR uploaded")
	}
	if ni.NarSize != rec.narSize {
		return fmt.Errorf("NarSize is %d, the NAR uploaded has %d bytes", ni.NarSize, rec.narSize)
	}
	return nil
}

func sameSHA256(h *nixhash.Hash, digest []byte) bool {
	return h != nil && h.Algo() == nixhash.SHA256 && bytes.Equal(h.Digest(), digest)
}

func sha256Hash(digest []byte) *nixhash.Hash {
	h, err := nixhash.NewHash(nixhash.SHA256, digest)
	if err != nil {
		panic(err) // a sha256 digest is always 32 bytes
	}
	return h
}

// checkReferences refuses a narinfo whose references are not all served:
// the path itself, pushed paths (Nix uploads dependencies first), or paths
// the server has from elsewhere.
func (u *Uploads) checkReferences(ctx context.Context, ni *narinfo.NarInfo) error {
	self := ni.StorePath[len(storeDir):]
	for _, ref := range ni.References {
		if ref == self {
			continue
		}
		if len(ref) < 33 || ref[32] != '-' || !narinfo.ValidHashPart(ref[:32]) {
			return errorf(KindInvalid, "narinfo %s: reference %q is not a store path", ni.HashPart(), ref)
		}
		hp := ref[:32]
		if st, err := u.opts.Store.NarInfo(hp); err == nil && st.NarInfo.StorePath == storeDir+ref {
			continue
		}
		if u.opts.Known != nil && u.opts.Known(ctx, hp) {
			continue
		}
		return errorf(KindInvalid, "narinfo %s: reference %s is not in this cache (push it first)", ni.HashPart(), ref)
	}
	return nil
}
