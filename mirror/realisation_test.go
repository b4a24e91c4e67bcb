package mirror

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/private-nix-cache/private-nix-cache/server"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

const (
	caBaseID = "sha256:d7e8c98fcb3fb6ac483b681ec6796df4f5bca7937d9379be9cd9b8e3eacd8102!out"
	caDepID  = "sha256:0bc4b40076e2267b4f6b8232e1fcc657628e82498cbda1027d2b2ebd5e958517!out"
)

// realisationEnv is a mirror whose upstream holds two paths and the
// realisations naming them, the second depending on the first.
func realisationEnv(t *testing.T, o envOptions) (e *env, base, dep string) {
	t.Helper()
	o.files = map[string][]byte{"ca-a": []byte("a\n"), "ca-b": []byte("b\n")}
	e = newEnv(t, o)
	base, dep = path.Base(e.paths[0]), path.Base(e.paths[1])
	upstreamtest.WriteRealisation(e.dir, caBaseID, base, nil, e.upKey.Secret)
	upstreamtest.WriteRealisation(e.dir, caDepID, dep, map[string]string{caBaseID: base}, e.upKey.Secret)
	return e, base, dep
}

func (e *env) realisation(id string) (*http.Response, []byte) {
	e.t.Helper()
	resp, body, err := e.get("realisations/" + id + ".doi")
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, body
}

// verifies reports whether a signature of doc by pub verifies.
func verifies(t *testing.T, doc []byte, pub string) bool {
	t.Helper()
	var r struct {
		DependentRealisations map[string]string
		ID, OutPath           string
		Signatures            []string
	}
	if err := json.Unmarshal(doc, &r); err != nil {
		t.Fatalf("%v: %s", err, doc)
	}
	key, err := signature.ParsePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	fp := upstreamtest.RealisationFingerprint(r.ID, r.OutPath, r.DependentRealisations)
	for _, s := range r.Signatures {
		if sig, err := signature.ParseSignature(s); err == nil && sig.Name == key.Name && key.Verify(fp, sig) {
			return true
		}
	}
	return false
}

func TestRealisationMirroredAndResigned(t *testing.T) {
	e, base, dep := realisationEnv(t, envOptions{})
	resp, body := e.realisation(caDepID)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s: %s", resp.Status, body)
	}
	want := `{"dependentRealisations":{"` + caBaseID + `":"` + base + `"},"id":"` + caDepID + `","outPath":"` + dep + `","signatures":["upstream-test-1:`
	if !strings.HasPrefix(string(body), want) {
		t.Errorf("body\n%s\ndoes not start with\n%s", body, want)
	}
	if !verifies(t, body, e.upKey.Public) || !verifies(t, body, e.ourKey.Public) {
		t.Errorf("want the upstream's signature and ours: %s", body)
	}
	if _, again := e.realisation(caDepID); !bytes.Equal(again, body) {
		t.Errorf("again: %s", again)
	}
	if n := e.ups[0].Requests("/realisations/"); n != 1 {
		t.Errorf("upstream asked %d times for one realisation, want 1 (then from memory)", n)
	}
	if n := e.ups[0].Requests(".narinfo"); n != 1 {
		t.Errorf("%d narinfo requests: want one, for the out path", n)
	}
	// Nix asks the out path's narinfo next: it is cached already.
	e.narInfo(e.paths[1])
	if n := e.ups[0].Requests(".narinfo"); n != 1 {
		t.Errorf("out path's narinfo asked upstream again (%d requests)", n)
	}
}

func TestRealisationPassedOnWithoutResigning(t *testing.T) {
	e, _, _ := realisationEnv(t, envOptions{noResign: true})
	resp, body := e.realisation(caBaseID)
	upstreamBody, err := os.ReadFile(filepath.Join(e.dir, "realisations", caBaseID+".doi"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, upstreamBody) {
		t.Errorf("%s:\n%s\nwant the upstream's\n%s", resp.Status, body, upstreamBody)
	}
}

func TestRealisationRefused(t *testing.T) {
	doi := func(e *env, id string) string { return filepath.Join(e.dir, "realisations", id+".doi") }
	for _, c := range []struct {
		name    string
		prepare func(e *env, base string)
		header  string // of the 404
	}{
		{"miss", func(e *env, _ string) { os.Remove(doi(e, caBaseID)) }, ""},
		{"unsigned", func(e *env, base string) { upstreamtest.WriteRealisation(e.dir, caBaseID, base, nil) }, ""},
		{"untrusted", func(e *env, base string) {
			upstreamtest.WriteRealisation(e.dir, caBaseID, base, nil, upstreamtest.NewKey(t, "upstream-test-1").Secret)
		}, ""},
		{"signed by us only", func(e *env, base string) {
			upstreamtest.WriteRealisation(e.dir, caBaseID, base, nil, e.ourKey.Secret)
		}, ""},
		{"out path not served", func(e *env, base string) {
			other := "00000000000000000000000000000000" + base[32:]
			upstreamtest.WriteRealisation(e.dir, caBaseID, other, nil, e.upKey.Secret)
		}, ""},
		{"out path names another path", func(e *env, base string) {
			upstreamtest.WriteRealisation(e.dir, caBaseID, base[:33]+"other", nil, e.upKey.Secret)
		}, ""},
		{"bad JSON", func(e *env, base string) {
			os.WriteFile(doi(e, caBaseID), []byte(`{"id":"`+caBaseID+`","outPath":"`+base), 0o644)
		}, "unavailable"},
		{"oversized", func(e *env, base string) {
			body := fmt.Sprintf(`{"dependentRealisations":{},"id":%q,"outPath":%q,"signatures":[%q]}`,
				caBaseID, base, strings.Repeat("x", 64<<10))
			os.WriteFile(doi(e, caBaseID), []byte(body), 0o644)
		}, "unavailable"},
		{"upstream failing", func(e *env, _ string) {
			e.ups[0].AddFault(upstreamtest.Fault{Kind: upstreamtest.ServerError, Match: "/realisations/"})
		}, "unavailable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, base, _ := realisationEnv(t, envOptions{})
			c.prepare(e, base)
			resp, body := e.realisation(caBaseID)
			if resp.StatusCode != http.StatusNotFound || resp.Header.Get(server.UpstreamHeader) != c.header {
				t.Errorf("%s, %s %q: %s", resp.Status, server.UpstreamHeader, resp.Header.Get(server.UpstreamHeader), body)
			}
		})
	}
}

func TestRealisationInvalidIDNotAsked(t *testing.T) {
	e, _, _ := realisationEnv(t, envOptions{})
	for _, id := range []string{"sha256:abc!out", "md5:" + strings.Repeat("0", 64) + "!out", strings.TrimSuffix(caBaseID, "!out")} {
		if resp, body := e.realisation(id); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %s: %s", id, resp.Status, body)
		}
	}
	if n := e.ups[0].Requests("/realisations/"); n != 0 {
		t.Errorf("%d upstream requests for invalid ids", n)
	}
}

func TestRealisationMemoryBounded(t *testing.T) {
	c := newRealisations(0)
	body := bytes.Repeat([]byte("r"), 1000)
	for i := range 2 * maxRealisationBytes / len(body) {
		c.put(fmt.Sprint(i), body)
	}
	if c.bytes > maxRealisationBytes || c.lru.Len() != len(c.byID) || c.lru.Len() != maxRealisationBytes/len(body) {
		t.Errorf("%d bytes in %d entries (%d by id), bound %d", c.bytes, c.lru.Len(), len(c.byID), maxRealisationBytes)
	}
	if _, ok := c.get("0"); ok {
		t.Error("the oldest entry is still kept")
	}
	last := fmt.Sprint(2*maxRealisationBytes/len(body) - 1)
	if b, ok := c.get(last); !ok || !bytes.Equal(b, body) {
		t.Error("the newest entry is gone")
	}
}
