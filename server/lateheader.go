package server

import (
	"io"
	"net/http"
)

// lateHeader sends the status with the first body byte, so that a body
// that fails before its first byte (a store path deleted since its narinfo
// was served) can still be answered with a clean error status instead of a
// cut connection. It passes ReadFrom on, keeping sendfile.
type lateHeader struct {
	http.ResponseWriter
	status int
	sent   bool
}

func (w *lateHeader) send() {
	if !w.sent {
		w.sent = true
		w.ResponseWriter.WriteHeader(w.status)
	}
}

func (w *lateHeader) Write(p []byte) (int, error) {
	w.send()
	return w.ResponseWriter.Write(p)
}

func (w *lateHeader) ReadFrom(r io.Reader) (int64, error) {
	w.send()
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{w.ResponseWriter}, r)
}

// unsent drops the headers of the answer that was not sent, so that an
// error status does not carry them.
func (w *lateHeader) unsent() {
	w.Header().Del("Content-Range")
}
