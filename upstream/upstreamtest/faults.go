package upstreamtest

import (
	"time"
)

// FaultKind is a way the fake upstream misbehaves.
type FaultKind int

const (
	// NotFound answers 404.
	NotFound FaultKind = iota
	// ServerError answers 500.
	ServerError
	// SlowFirstByte waits Delay before sending the response headers.
	SlowFirstByte
	// StallMidBody sends half the body, then waits Delay (0: until the client
	// leaves or the server closes) before sending the rest.
	StallMidBody
	// Truncate sends a well-formed response holding only the first half of
	// the body (Content-Length says so): only a size or hash check notices.
	Truncate
	// Corrupt flips bytes of the body; the length and any advertised hashes
	// stay the same.
	Corrupt
	// UntrustedSig serves narinfos re-signed with a throwaway key, the real
	// signatures dropped. Ignored for other files.
	UntrustedSig
	// UnknownFieldsHexHashes serves narinfos with unknown keys added and
	// hashes written in hex (NarHash) and base64 (FileHash); signatures stay
	// valid. Ignored for other files.
	UnknownFieldsHexHashes
	// Reset sends half the body, then resets the connection (TCP RST).
	Reset
	// Forbidden answers 403, as a cache does to a token without access.
	Forbidden
	// IgnoreRange answers a range request with the whole file (200), as a
	// server without Range support does.
	IgnoreRange
)

var faultNames = map[FaultKind]string{
	NotFound: "NotFound", ServerError: "ServerError", SlowFirstByte: "SlowFirstByte",
	StallMidBody: "StallMidBody", Truncate: "Truncate", Corrupt: "Corrupt",
	UntrustedSig: "UntrustedSig", UnknownFieldsHexHashes: "UnknownFieldsHexHashes", Reset: "Reset",
	Forbidden: "Forbidden", IgnoreRange: "IgnoreRange",
}

func (k FaultKind) String() string {
	if s, ok := faultNames[k]; ok {
		return s
	}
	return "FaultKind(?)"
}

// Fault makes matching requests misbehave. Several faults may apply to one
// request (e.g. SlowFirstByte and Corrupt); NotFound, ServerError and
// Forbidden end it.
type Fault struct {
	Kind FaultKind
	// Match is a substring of the request path; "" matches every request.
	Match string
	// Delay is the wait of SlowFirstByte and StallMidBody.
	Delay time.Duration
	// Rate is the probability that a matching request is hit (from a seeded
	// generator, so runs repeat); 0 means always.
	Rate float64
	// Times limits the fault to the first N matching requests; 0: unlimited.
	Times int
}

// activeFault is a Fault plus how often it has fired.
type activeFault struct {
	Fault
	fired int
}
