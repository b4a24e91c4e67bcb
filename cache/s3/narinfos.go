package s3

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// The user metadata of a narinfo object: what NarInfoEntry holds beyond
// the narinfo, query-escaped (S3 metadata is ASCII).
const (
	metaKey         = "pnc-key"
	metaUpstream    = "pnc-upstream"
	metaUpstreamURL = "pnc-upstream-url"
	metaUpstreamKey = "pnc-upstream-key"
)

const narInfoContentType = "text/x-nix-narinfo"

func narInfoObject(hashPart string) string { return hashPart + narInfoSuffix }

// NarInfo reads <hashPart>.narinfo. Its Key is the object's pnc-key
// metadata or, for a narinfo written by something else (nix copy), the
// URL's name under nar/.
func (s *Store) NarInfo(hashPart string) (*cache.NarInfoEntry, error) {
	if !narinfo.ValidHashPart(hashPart) {
		return nil, notExist("narinfo", hashPart)
	}
	ctx, cancel, err := s.requestContext()
	if err != nil {
		return nil, err
	}
	defer cancel()
	body, info, _, err := s.core.GetObject(ctx, s.opts.Bucket, narInfoObject(hashPart), minio.GetObjectOptions{})
	if err != nil {
		return nil, storageErr("read narinfo "+hashPart, err)
	}
	defer body.Close()
	raw, err := io.ReadAll(io.LimitReader(body, narinfo.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read narinfo %s: %w: %w", hashPart, cache.ErrStorage, err)
	}
	ni, err := narinfo.ParseBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("stored narinfo %s: %w", hashPart, err)
	}
	e := &cache.NarInfoEntry{
		NarInfo: ni, Raw: raw, Key: metaValue(info.Metadata, metaKey),
		Upstream: metaValue(info.Metadata, metaUpstream), UpstreamURL: metaValue(info.Metadata, metaUpstreamURL),
		UpstreamKey: metaValue(info.Metadata, metaUpstreamKey),
	}
	if e.Key == "" {
		e.Key = strings.TrimPrefix(ni.URL, narPrefix)
	}
	return e, nil
}

// metaValue is a user metadata value, unescaped ("" when absent or bad).
func metaValue(h http.Header, name string) string {
	v, err := url.QueryUnescape(h.Get("X-Amz-Meta-" + name))
	if err != nil {
		return ""
	}
	return v
}

// PutNarInfo writes <hashPart>.narinfo with the entry's fields in its
// metadata. Its NAR file must be committed first (see the package doc).
func (s *Store) PutNarInfo(e cache.NarInfoEntry) error {
	if e.NarInfo == nil || !validKey(e.Key) {
		return fmt.Errorf("put narinfo: invalid entry (key %q)", e.Key)
	}
	hashPart := e.NarInfo.HashPart()
	if !narinfo.ValidHashPart(hashPart) {
		return fmt.Errorf("put narinfo: bad store path %q", e.NarInfo.StorePath)
	}
	raw := e.NarInfo.Bytes()
	ctx, cancel, err := s.requestContext()
	if err != nil {
		return err
	}
	defer cancel()
	_, err = s.core.PutObject(ctx, s.opts.Bucket, narInfoObject(hashPart), bytes.NewReader(raw), int64(len(raw)), "", "",
		minio.PutObjectOptions{ContentType: narInfoContentType, UserMetadata: map[string]string{
			metaKey: url.QueryEscape(e.Key), metaUpstream: url.QueryEscape(e.Upstream),
			metaUpstreamURL: url.QueryEscape(e.UpstreamURL), metaUpstreamKey: url.QueryEscape(e.UpstreamKey),
		}})
	if err != nil {
		return storageErr("put narinfo "+hashPart, err)
	}
	s.mu.Lock()
	s.indexLocked(hashPart, e.Key)
	delete(s.negative, hashPart)
	s.mu.Unlock()
	return nil
}

// DeleteNarInfo removes <hashPart>.narinfo, if there is one.
func (s *Store) DeleteNarInfo(hashPart string) error {
	if !narinfo.ValidHashPart(hashPart) {
		return nil
	}
	ctx, cancel, err := s.requestContext()
	if err != nil {
		return err
	}
	defer cancel()
	if err := s.client.RemoveObject(ctx, s.opts.Bucket, narInfoObject(hashPart), minio.RemoveObjectOptions{}); err != nil && !notFound(err) {
		return storageErr("delete narinfo "+hashPart, err)
	}
	s.mu.Lock()
	s.indexLocked(hashPart, "")
	s.mu.Unlock()
	return nil
}

// deleteNarInfoOf removes the narinfo of hashPart if it names key.
func (s *Store) deleteNarInfoOf(hashPart, key string) error {
	e, err := s.NarInfo(hashPart)
	switch {
	case isNotExist(err):
		s.mu.Lock()
		s.indexLocked(hashPart, "")
		s.mu.Unlock()
		return nil
	case err != nil && isStorage(err):
		return err
	case err != nil || e.Key == key: // unreadable narinfos go too
		return s.DeleteNarInfo(hashPart)
	}
	return nil
}

// indexLocked records that hashPart's narinfo names key ("" for none).
func (s *Store) indexLocked(hashPart, key string) {
	if old, ok := s.keyOf[hashPart]; ok {
		delete(s.namedBy[old], hashPart)
		if len(s.namedBy[old]) == 0 {
			delete(s.namedBy, old)
		}
		delete(s.keyOf, hashPart)
	}
	if key == "" {
		return
	}
	s.keyOf[hashPart] = key
	if s.namedBy[key] == nil {
		s.namedBy[key] = map[string]struct{}{}
	}
	s.namedBy[key][hashPart] = struct{}{}
}

// maxNegatives bounds the negative entries: past it expired ones are
// swept, and live ones forgotten if need be (a miss asked again costs one
// upstream request).
const maxNegatives = 100_000

// Negative reports whether a live negative entry exists (in this process).
func (s *Store) Negative(hashPart string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.negative[hashPart]
	if ok && time.Now().After(exp) {
		delete(s.negative, hashPart)
		return false
	}
	return ok
}

// PutNegative records a miss for NegativeTTL, in memory only.
func (s *Store) PutNegative(hashPart string) error {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	if len(s.negative) >= maxNegatives {
		for hp, exp := range s.negative {
			if now.After(exp) {
				delete(s.negative, hp)
			}
		}
		for hp := range s.negative { // all live: forget one, memory stays bounded
			if len(s.negative) < maxNegatives {
				break
			}
			delete(s.negative, hp)
		}
	}
	s.negative[hashPart] = now.Add(s.opts.NegativeTTL)
	return nil
}
