package tls

import (
	stdtls "crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// staticCheckInterval bounds how often a handshake looks at the files.
const staticCheckInterval = time.Second

// staticCert serves a certificate from files and reloads it when either file
// changes. The check runs inside GetCertificate, at most once per
// staticCheckInterval, so no goroutine is needed. A change that does not load
// (a half-written file, a key that does not match) keeps the old certificate.
type staticCert struct {
	certFile, keyFile string
	logger            *slog.Logger
	metrics           *metrics

	mu        sync.Mutex
	cert      *stdtls.Certificate
	stamp     fileStamp // files as last tried, loaded or not
	lastCheck time.Time
}

// fileStamp identifies a version of the two files.
type fileStamp struct{ cert, key os.FileInfo }

func (a fileStamp) equal(b fileStamp) bool {
	same := func(x, y os.FileInfo) bool {
		return x != nil && y != nil && os.SameFile(x, y) &&
			x.ModTime().Equal(y.ModTime()) && x.Size() == y.Size()
	}
	return same(a.cert, b.cert) && same(a.key, b.key)
}

func newStaticCert(certFile, keyFile string, logger *slog.Logger, m *metrics) (*staticCert, error) {
	s := &staticCert{certFile: certFile, keyFile: keyFile, logger: logger, metrics: m}
	stamp, err := s.statFiles()
	if err != nil {
		return nil, err
	}
	cert, err := s.load()
	if err != nil {
		return nil, err
	}
	s.cert, s.stamp, s.lastCheck = cert, stamp, time.Now()
	m.setNotAfter(cert.Leaf)
	return s, nil
}

func (s *staticCert) statFiles() (fileStamp, error) {
	c, err := os.Stat(s.certFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("--tls-cert-file: %w", err)
	}
	k, err := os.Stat(s.keyFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("--tls-key-file: %w", err)
	}
	return fileStamp{cert: c, key: k}, nil
}

func (s *staticCert) load() (*stdtls.Certificate, error) {
	cert, err := stdtls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return nil, fmt.Errorf("load %s and %s: %w", s.certFile, s.keyFile, err)
	}
	return &cert, nil // Go 1.23+ fills cert.Leaf
}

// GetCertificate is the tls.Config hook.
func (s *staticCert) GetCertificate(*stdtls.ClientHelloInfo) (*stdtls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.lastCheck) >= staticCheckInterval {
		s.lastCheck = time.Now()
		s.reloadLocked()
	}
	return s.cert, nil
}

func (s *staticCert) reloadLocked() {
	stamp, err := s.statFiles()
	if err != nil {
		if s.stamp.cert != nil { // log a vanished file once
			s.logger.Error("static tls certificate files unreadable; keeping the loaded certificate", "err", err)
			s.metrics.reloadFailure.Inc()
			s.stamp = fileStamp{}
		}
		return
	}
	if stamp.equal(s.stamp) {
		return
	}
	s.stamp = stamp // try each version once
	cert, err := s.load()
	if err != nil {
		s.logger.Error("static tls certificate changed but does not load; keeping the loaded certificate", "err", err)
		s.metrics.reloadFailure.Inc()
		return
	}
	s.cert = cert
	s.metrics.setNotAfter(cert.Leaf)
	s.logger.Info("static tls certificate reloaded", "names", cert.Leaf.DNSNames, "not_after", cert.Leaf.NotAfter)
}
