package tlstest

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// DNS is a small authoritative server for one zone on 127.0.0.1, over UDP
// and TCP on the same port. It answers SOA and NS at the apex and the TXT
// records set with SetTXT; other names in the zone get NXDOMAIN, names
// outside it REFUSED.
type DNS struct {
	// Addr is 127.0.0.1:PORT.
	Addr string
	// Zone is the apex with a trailing dot, e.g. "cf.test.".
	Zone string

	mu  sync.Mutex
	txt map[string][]string // lower-case FQDN → values
}

// StartDNS serves zone (e.g. "cf.test.") until the end of the test.
func StartDNS(t testing.TB, zone string) *DNS {
	t.Helper()
	d := &DNS{Zone: dns.CanonicalName(zone), txt: map[string][]string{}}
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		udp, err := net.ListenPacket("udp", addr)
		if err != nil {
			lastErr = err
			continue
		}
		tcp, err := net.Listen("tcp", addr)
		if err != nil {
			udp.Close()
			lastErr = err
			continue
		}
		d.Addr = addr
		for _, s := range []*dns.Server{{PacketConn: udp, Handler: d}, {Listener: tcp, Handler: d}} {
			started := make(chan struct{})
			s.NotifyStartedFunc = func() { close(started) }
			go s.ActivateAndServe()
			select {
			case <-started:
			case <-time.After(5 * time.Second):
				t.Fatal("dns server did not start")
			}
			t.Cleanup(func() { _ = s.Shutdown() })
		}
		return d
	}
	t.Fatalf("dns listen: %v", lastErr)
	return nil
}

// Name returns label.Zone without the trailing dot; the apex for "".
func (d *DNS) Name(label string) string { return nameIn(d.Zone, label) }

// nameIn returns label.zone without zone's trailing dot; the apex for "".
func nameIn(zone, label string) string {
	apex := strings.TrimSuffix(zone, ".")
	if label == "" {
		return apex
	}
	return label + "." + apex
}

// SetTXT replaces the TXT values of name (absolute, trailing dot optional);
// no values deletes the name.
func (d *DNS) SetTXT(name string, values ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	name = dns.CanonicalName(name)
	if len(values) == 0 {
		delete(d.txt, name)
		return
	}
	d.txt[name] = append([]string(nil), values...)
}

// TXT returns the TXT values of name.
func (d *DNS) TXT(name string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.txt[dns.CanonicalName(name)]...)
}

// ServeDNS implements dns.Handler.
func (d *DNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	defer func() { _ = w.WriteMsg(resp) }()
	if len(req.Question) != 1 {
		resp.Rcode = dns.RcodeFormatError
		return
	}
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	if !dns.IsSubDomain(d.Zone, name) {
		resp.Authoritative = false
		resp.Rcode = dns.RcodeRefused
		return
	}
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: 1}
	}
	soa := &dns.SOA{Hdr: hdr(dns.TypeSOA), Ns: "ns1." + d.Zone, Mbox: "hostmaster." + d.Zone,
		Serial: 1, Refresh: 60, Retry: 60, Expire: 600, Minttl: 1}
	soa.Hdr.Name = d.Zone

	d.mu.Lock()
	txt, hasTXT := d.txt[name]
	d.mu.Unlock()
	switch {
	case name == d.Zone && q.Qtype == dns.TypeSOA:
		resp.Answer = append(resp.Answer, soa)
	case name == d.Zone && q.Qtype == dns.TypeNS:
		resp.Answer = append(resp.Answer, &dns.NS{Hdr: hdr(dns.TypeNS), Ns: "ns1." + d.Zone})
	case hasTXT && q.Qtype == dns.TypeTXT:
		for _, v := range txt {
			resp.Answer = append(resp.Answer, &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: splitTXT(v)})
		}
	case name == d.Zone || hasTXT: // the name exists, not with this type
		resp.Ns = append(resp.Ns, soa)
	default:
		resp.Rcode = dns.RcodeNameError
		resp.Ns = append(resp.Ns, soa)
	}
}

// splitTXT cuts a value into the 255-byte strings a TXT record holds.
func splitTXT(v string) []string {
	var out []string
	for len(v) > 255 {
		out = append(out, v[:255])
		v = v[255:]
	}
	return append(out, v)
}
