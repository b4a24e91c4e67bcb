package upstreamtest

import (
	"net"
	"net/http"
	"strconv"
	"time"
)

// bodyFaults are the faults that act on the response body.
type bodyFaults struct {
	stall    bool
	stallFor time.Duration
	truncate bool
	corrupt  bool
	reset    bool
	rate     int64 // bytes per second; 0 unthrottled
}

// faultWriter sits between http.ServeContent and the connection, applying
// body faults at half of the body and counting the bytes sent.
type faultWriter struct {
	http.ResponseWriter
	s      *Server
	r      *http.Request
	path   string
	faults bodyFaults
	start  time.Time

	length  int64 // body length ServeContent announced; -1 unknown
	cut     int64 // where stall, reset and truncate act
	pos     int64 // body bytes passed through so far (before truncation)
	sent    int64 // body bytes written to the client
	acted   bool  // stall or reset already done
	aborted bool  // the handler must abort the connection
}

func (w *faultWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *faultWriter) WriteHeader(code int) {
	w.length = -1
	if n, err := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64); err == nil {
		w.length = n
		w.cut = n / 2
	}
	if w.faults.truncate && w.length >= 0 && (code == http.StatusOK || code == http.StatusPartialContent) {
		w.Header().Set("Content-Length", strconv.FormatInt(w.cut, 10))
		if code == http.StatusPartialContent {
			w.Header().Del("Content-Range") // it would contradict the length; the cut shows
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *faultWriter) Write(p []byte) (int, error) {
	total := len(p)
	if w.length < 0 {
		w.length, w.cut = -1, 0
	}
	for len(p) > 0 {
		chunk := p
		// Stop exactly at the cut, so a fault there sees the first half out.
		if w.length >= 0 && w.pos < w.cut && w.pos+int64(len(chunk)) > w.cut {
			chunk = chunk[:w.cut-w.pos]
		}
		if w.faults.rate > 0 {
			if max := max(w.faults.rate/50, 1); int64(len(chunk)) > max {
				chunk = chunk[:max]
			}
		}
		if w.length >= 0 && w.pos >= w.cut && !w.acted && (w.faults.stall || w.faults.reset) {
			w.acted = true
			if err := w.actAtCut(); err != nil {
				return total - len(p), err
			}
		}
		if err := w.writeChunk(chunk); err != nil {
			return total - len(p), err
		}
		p = p[len(chunk):]
	}
	return total, nil
}

// actAtCut stalls or resets once the first half is out.
func (w *faultWriter) actAtCut() error {
	rc := http.NewResponseController(w.ResponseWriter)
	_ = rc.Flush()
	if w.faults.reset {
		conn, _, err := rc.Hijack()
		if err != nil {
			w.aborted = true
			return errClientGone
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close with RST, not FIN
		}
		conn.Close()
		return errClientGone
	}
	if !w.s.sleep(w.r, w.faults.stallFor) {
		w.aborted = true
		return errClientGone
	}
	return nil
}

func (w *faultWriter) writeChunk(chunk []byte) error {
	start := w.pos
	w.pos += int64(len(chunk))
	if w.faults.truncate && w.length >= 0 {
		if start >= w.cut {
			return nil // dropped
		}
		if w.pos > w.cut {
			chunk = chunk[:w.cut-start]
		}
	}
	if w.faults.corrupt && w.length > 0 {
		flipAt := w.length / 2
		if w.faults.truncate {
			flipAt = w.cut / 2
		}
		if flipAt >= start && flipAt < start+int64(len(chunk)) {
			c := append([]byte(nil), chunk...)
			c[flipAt-start] ^= 0xff
			chunk = c
		}
	}
	n, err := w.ResponseWriter.Write(chunk)
	w.sent += int64(n)
	w.s.addBytes(w.path, n)
	if err != nil {
		return err
	}
	if w.faults.rate > 0 {
		_ = http.NewResponseController(w.ResponseWriter).Flush()
		due := w.start.Add(time.Duration(float64(w.sent) / float64(w.faults.rate) * float64(time.Second)))
		if d := time.Until(due); d > 0 && !w.s.sleep(w.r, d) {
			w.aborted = true
			return errClientGone
		}
	}
	return nil
}
