package tlstest

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestDNSAnswers(t *testing.T) {
	d := StartDNS(t, "cf.test")
	d.SetTXT("_acme-challenge.www.cf.test", "token-1", "token-2")
	tests := []struct {
		name      string
		qtype     uint16
		wantRcode int
		wantN     int
	}{
		{"cf.test.", dns.TypeSOA, dns.RcodeSuccess, 1},
		{"cf.test.", dns.TypeNS, dns.RcodeSuccess, 1},
		{"_acme-challenge.www.cf.test.", dns.TypeTXT, dns.RcodeSuccess, 2},
		{"_acme-challenge.www.cf.test.", dns.TypeSOA, dns.RcodeSuccess, 0},
		{"missing.cf.test.", dns.TypeTXT, dns.RcodeNameError, 0},
		{"example.org.", dns.TypeSOA, dns.RcodeRefused, 0},
	}
	for _, net := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			msg := new(dns.Msg)
			msg.SetQuestion(tt.name, tt.qtype)
			in, _, err := (&dns.Client{Net: net, Timeout: 2 * time.Second}).Exchange(msg, d.Addr)
			if err != nil {
				t.Fatalf("%s %s %s: %v", net, tt.name, dns.TypeToString[tt.qtype], err)
			}
			if in.Rcode != tt.wantRcode || len(in.Answer) != tt.wantN {
				t.Errorf("%s %s %s: rcode %s, %d answers; want %s, %d", net, tt.name, dns.TypeToString[tt.qtype],
					dns.RcodeToString[in.Rcode], len(in.Answer), dns.RcodeToString[tt.wantRcode], tt.wantN)
			}
		}
	}
	d.SetTXT("_acme-challenge.www.cf.test")
	if got := d.TXT("_acme-challenge.www.cf.test."); len(got) != 0 {
		t.Errorf("TXT after delete = %v", got)
	}
}
