// Package s3 is a cache.Store over an S3-compatible bucket, laid out as a
// Nix binary cache so that Nix itself (an s3:// store, or any static HTTP
// server in front of the bucket) can read it:
//
//	nix-cache-info          written at open when missing
//	<hashPart>.narinfo      NarInfoEntry.Raw; Key, Upstream, UpstreamURL and UpstreamKey
//	                        in user metadata (x-amz-meta-pnc-*)
//	nar/<key>               the NAR files
//
// NAR files are written through multipart uploads that become visible only
// when completed; uploads left behind by a crash are aborted by a cleaner
// that runs at open and every CleanInterval.
//
// A narinfo must only be put once its NAR file is committed: the bucket
// may be read by Nix directly, which would otherwise find a narinfo whose
// NAR is missing. The caller keeps that order.
//
// Negative entries (upstream misses) live in memory only: they are a
// per-server cache of misses, lost at restart, not shared between servers.
//
// DeleteFile must find the narinfos naming a file: an in-memory index
// key → hash parts is built at open by listing the *.narinfo objects (one
// LIST per 1000 narinfos, then one HEAD per narinfo for its metadata,
// indexConcurrency at a time: about 100 LISTs and 100k HEADs for a bucket
// of 100k narinfos) and kept up to date by this process. Narinfos other
// servers put later are found through the hash part that NarFileKey names
// begin with.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

var _ cache.Store = (*Store)(nil)

// Options configure a Store.
type Options struct {
	// Bucket is the bucket's name. Required; the bucket must exist.
	Bucket string
	// Endpoint is the server's host[:port]. Empty means s3.amazonaws.com.
	Endpoint string
	// Region is the bucket's region. Empty means us-east-1.
	Region string
	// Insecure speaks plain HTTP instead of HTTPS.
	Insecure bool
	// AccessKeyFile and SecretKeyFile name files holding the credentials.
	// Empty means the AWS environment variables, then the shared
	// credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials,
	// profile Profile).
	AccessKeyFile, SecretKeyFile string
	// Profile is the shared credentials file's profile. Empty means
	// AWS_PROFILE, else "default".
	Profile string
	// PartSize is the size of a multipart upload's parts; a writer holds
	// at most two in memory. Zero means 16 MiB; S3 needs at least 5 MiB.
	PartSize int
	// StaleUploadAge is the age after which an incomplete multipart upload
	// is taken for a crashed writer's and aborted. Zero means 1 hour.
	StaleUploadAge time.Duration
	// CleanInterval is how often stale uploads are looked for. Zero means
	// 15 minutes.
	CleanInterval time.Duration
	// NegativeTTL is how long a negative entry lasts. Zero means 10 minutes.
	NegativeTTL time.Duration
	// MaxRetries is how many times a failed request is tried. Zero means
	// the client library's default (10).
	MaxRetries int
	// Transport carries the requests. Nil means a default transport.
	Transport http.RoundTripper
	// Logger receives operational messages. Nil discards them.
	Logger *slog.Logger
}

const (
	defaultPartSize  = 16 << 20
	minPartSize      = 5 << 20
	narPrefix        = "nar/"
	narInfoSuffix    = ".narinfo"
	cacheInfoKey     = "nix-cache-info"
	cacheInfo        = "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n"
	requestTimeout   = 5 * time.Minute
	indexConcurrency = 16
)

func (o *Options) setDefaults() {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Endpoint == "" {
		o.Endpoint = "s3.amazonaws.com"
	}
	if o.PartSize == 0 {
		o.PartSize = defaultPartSize
	}
	if o.StaleUploadAge == 0 {
		o.StaleUploadAge = time.Hour
	}
	if o.CleanInterval == 0 {
		o.CleanInterval = 15 * time.Minute
	}
	if o.NegativeTTL == 0 {
		o.NegativeTTL = 10 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Store is a cache.Store over one bucket. It is safe for concurrent use.
type Store struct {
	opts   Options
	client *minio.Client
	core   minio.Core
	ctx    context.Context // cancelled by Close
	stop   context.CancelFunc
	done   chan struct{} // closed when the cleaner has stopped

	mu       sync.Mutex
	closed   bool
	keyOf    map[string]string              // hash part → key its narinfo names
	namedBy  map[string]map[string]struct{} // key → hash parts naming it
	negative map[string]time.Time           // hash part → expiry
}

// Open connects to the bucket, writes nix-cache-info if it is missing,
// builds the narinfo index and starts the stale upload cleaner.
func Open(opts Options) (*Store, error) {
	opts.setDefaults()
	if opts.Bucket == "" {
		return nil, errors.New("s3 store: no bucket")
	}
	if opts.PartSize < minPartSize {
		return nil, fmt.Errorf("s3 store: part size %d is under S3's minimum of %d", opts.PartSize, minPartSize)
	}
	creds, err := credentialsOf(opts)
	if err != nil {
		return nil, fmt.Errorf("s3 store: %w", err)
	}
	client, err := minio.New(opts.Endpoint, &minio.Options{
		Creds: creds, Secure: !opts.Insecure, Region: opts.Region, Transport: opts.Transport,
		BucketLookup: minio.BucketLookupPath, MaxRetries: opts.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 store: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Store{
		opts: opts, client: client, core: minio.Core{Client: client}, ctx: ctx, stop: stop,
		done: make(chan struct{}), keyOf: map[string]string{},
		namedBy: map[string]map[string]struct{}{}, negative: map[string]time.Time{},
	}
	if err := s.prepare(); err != nil {
		stop()
		return nil, fmt.Errorf("s3 store %s at %s: %w", opts.Bucket, opts.Endpoint, err)
	}
	go s.cleanLoop()
	return s, nil
}

// prepare checks the bucket, writes nix-cache-info and builds the index.
func (s *Store) prepare() error {
	ctx, cancel := context.WithTimeout(s.ctx, requestTimeout)
	defer cancel()
	ok, err := s.client.BucketExists(ctx, s.opts.Bucket)
	if err != nil {
		return storageErr("look up bucket", err)
	}
	if !ok {
		return fmt.Errorf("%w: bucket does not exist", cache.ErrStorage)
	}
	if _, err := s.client.StatObject(ctx, s.opts.Bucket, cacheInfoKey, minio.StatObjectOptions{}); err != nil {
		if !notFound(err) {
			return storageErr("stat "+cacheInfoKey, err)
		}
		_, err = s.core.PutObject(ctx, s.opts.Bucket, cacheInfoKey, bytes.NewReader([]byte(cacheInfo)),
			int64(len(cacheInfo)), "", "", minio.PutObjectOptions{ContentType: "text/x-nix-cache-info"})
		if err != nil {
			return storageErr("write "+cacheInfoKey, err)
		}
	}
	return s.buildIndex()
}

// Close stops the cleaner. Uploads still open fail from then on; readers
// handed out stay readable.
func (s *Store) Close() error {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	if !already {
		s.stop()
		<-s.done
	}
	return nil
}

// errClosed is the error of every call after Close.
var errClosed = fmt.Errorf("%w: store is closed", cache.ErrStorage)

// checkOpen returns errClosed after Close.
func (s *Store) checkOpen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	return nil
}

// requestContext is the context of one request: cancelled by Close, and
// after requestTimeout.
func (s *Store) requestContext() (context.Context, context.CancelFunc, error) {
	if err := s.checkOpen(); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(s.ctx, requestTimeout)
	return ctx, cancel, nil
}

// notFound reports whether an S3 error says the object (or upload) is not there.
func notFound(err error) bool {
	var r minio.ErrorResponse
	if !errors.As(err, &r) {
		return false
	}
	return r.StatusCode == http.StatusNotFound || r.Code == "NoSuchKey" || r.Code == "NoSuchUpload"
}

// storageErr wraps an S3 error: missing objects become fs.ErrNotExist,
// anything else cache.ErrStorage.
func storageErr(what string, err error) error {
	if notFound(err) {
		return fmt.Errorf("%s: %w", what, fs.ErrNotExist)
	}
	return fmt.Errorf("%s: %w: %w", what, cache.ErrStorage, err)
}
