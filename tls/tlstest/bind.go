package tlstest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Bind is a real BIND 9 (named) serving one zone on 127.0.0.1, over UDP and
// TCP, that accepts TSIG-signed dynamic updates of TXT records.
type Bind struct {
	// Addr is 127.0.0.1:PORT: the --rfc2136-server, the --dns-resolver and
	// the DNS server pebble validates with.
	Addr string
	// Zone is the zone's apex with a trailing dot, e.g. "example.test.".
	Zone string
	// KeyName and KeyAlg name the TSIG key (--rfc2136-key-name,
	// --rfc2136-key-alg); KeyFile (mode 0600) holds its base64 secret
	// (--rfc2136-key-file).
	KeyName, KeyAlg, KeyFile string
	// Dir is named's working directory; its log is Dir/named.log.
	Dir string
}

// Name returns label.Zone without the trailing dot, a host name inside the
// zone to ask a certificate for; the apex for "".
func (b *Bind) Name(label string) string { return nameIn(b.Zone, label) }

// RequireNamed skips the test when named or tsig-keygen is missing, and fails
// it when the environment variable CI is set.
func RequireNamed(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"named", "tsig-keygen"} {
		if _, err := lookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is required under CI: %v", tool, err)
			}
			t.Skipf("%s not installed (apt-get install bind9 bind9-utils)", tool)
		}
	}
}

// lookPath also searches the sbin directories, which are often not on PATH.
func lookPath(tool string) (string, error) {
	if p, err := exec.LookPath(tool); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, tool)
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", tool)
}

var secretRE = regexp.MustCompile(`secret\s+"([^"]+)"`)

// StartBind starts named in a fresh directory with zone example.test and a
// new hmac-sha256 key allowed to update TXT records in it. named stops at
// the end of the test.
func StartBind(t testing.TB) *Bind {
	t.Helper()
	return StartBindZone(t, "example.test.")
}

// StartBindZone is StartBind for another zone. With zone "localhost." a
// certificate for the name "localhost" can be obtained, which clients (the
// Nix client too) reach at 127.0.0.1 without any resolver setup.
func StartBindZone(t testing.TB, zone string) *Bind {
	t.Helper()
	RequireNamed(t)
	named, _ := lookPath("named")
	keygen, _ := lookPath("tsig-keygen")

	b := &Bind{Zone: dns.CanonicalName(zone), KeyName: "acme-update", KeyAlg: "hmac-sha256", Dir: t.TempDir()}
	keyConf, err := exec.Command(keygen, "-a", b.KeyAlg, b.KeyName).Output()
	if err != nil {
		t.Fatalf("tsig-keygen: %v", err)
	}
	m := secretRE.FindSubmatch(keyConf)
	if m == nil {
		t.Fatalf("tsig-keygen printed no secret: %s", keyConf)
	}
	b.KeyFile = filepath.Join(b.Dir, "tsig.secret")
	writeFile(t, b.KeyFile, string(m[1])+"\n", 0o600)
	writeFile(t, filepath.Join(b.Dir, "tsig.conf"), string(keyConf), 0o600)
	writeFile(t, filepath.Join(b.Dir, "zone.db"), fmt.Sprintf(`$TTL 60
@	IN SOA	ns1.%[1]s hostmaster.%[1]s 1 60 60 600 1
@	IN NS	ns1.%[1]s
ns1	IN A	127.0.0.1
`, b.Zone), 0o644)

	// named binds the port itself; a port just seen free may be taken in
	// between, so try a few.
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		b.Addr = net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
		writeFile(t, filepath.Join(b.Dir, "named.conf"), b.namedConf(port), 0o644)
		if lastErr = b.run(t, named); lastErr == nil {
			return b
		}
	}
	t.Fatalf("start named: %v", lastErr)
	return nil
}

func (b *Bind) namedConf(port int) string {
	zone := strings.TrimSuffix(b.Zone, ".")
	return fmt.Sprintf(`options {
	directory "%[1]s";
	pid-file "%[1]s/named.pid";
	session-keyfile "%[1]s/session.key";
	managed-keys-directory "%[1]s";
	listen-on port %[2]d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify no;
};
controls { };
include "%[1]s/tsig.conf";
zone "%[3]s" {
	type primary;
	file "%[1]s/zone.db";
	update-policy { grant %[4]s zonesub TXT; };
	allow-transfer { key %[4]s; };
};
`, b.Dir, port, zone, b.KeyName)
}

// run starts named and waits until it answers the zone's SOA over TCP.
func (b *Bind) run(t testing.TB, named string) error {
	t.Helper()
	logFile, err := os.Create(filepath.Join(b.Dir, "named.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(named, "-g", "-c", filepath.Join(b.Dir, "named.conf"))
	cmd.Dir = b.Dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			log, _ := os.ReadFile(filepath.Join(b.Dir, "named.log"))
			return fmt.Errorf("named exited (%v): %s", err, lastLines(log, 5))
		case <-time.After(50 * time.Millisecond):
		}
		if b.answersSOA() {
			t.Cleanup(stop)
			return nil
		}
	}
	stop()
	return fmt.Errorf("named did not answer on %s within 10s", b.Addr)
}

func (b *Bind) answersSOA() bool {
	msg := new(dns.Msg)
	msg.SetQuestion(b.Zone, dns.TypeSOA)
	c := &dns.Client{Net: "tcp", Timeout: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	in, _, err := c.ExchangeContext(ctx, msg, b.Addr)
	return err == nil && in.Rcode == dns.RcodeSuccess && len(in.Answer) > 0
}

// freePort finds a port free for both TCP and UDP on 127.0.0.1.
func freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port for TCP and UDP")
}

func writeFile(t testing.TB, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
}

func lastLines(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
