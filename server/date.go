package server

import (
	"net/http"
	"sync/atomic"
	"time"
)

// dateValue is a Date header value and the second it stands for.
type dateValue struct {
	unix  int64
	value []string
}

var lastDate atomic.Pointer[dateValue]

// httpDate returns the Date header value of the current second, formatted
// once per second rather than by net/http on every response.
func httpDate() []string {
	now := time.Now()
	if d := lastDate.Load(); d != nil && d.unix == now.Unix() {
		return d.value
	}
	d := &dateValue{unix: now.Unix(), value: []string{now.UTC().Format(http.TimeFormat)}}
	lastDate.Store(d)
	return d.value
}
