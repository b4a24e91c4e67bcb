package tlstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Cloudflare fakes the four calls of the Cloudflare API that DNS-01 uses:
//
//	GET    /zones?name=ZONE
//	POST   /zones/{id}/dns_records
//	GET    /zones/{id}/dns_records?type=TXT&name=FQDN[&content.contains=...]
//	DELETE /zones/{id}/dns_records/{rid}
//
// TXT records it holds are served by the DNS server it was started with.
type Cloudflare struct {
	// Token is the only API token accepted; TokenFile (mode 0600) holds it
	// (the --dns-api-token-file setting).
	Token, TokenFile string
	// Client sends every request, whatever its URL, to the fake; give it as
	// the Config's HTTPClient.
	Client *http.Client
	// ZoneID is the id of the one zone.
	ZoneID string

	dns *DNS
	srv *httptest.Server

	mu       sync.Mutex
	records  map[string]cfRecord
	nextID   int
	failNext int
	calls    []string
}

type cfRecord struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Name    string `json:"name"`
	Content string `json:"content"`
	TTL     int    `json:"ttl"`
	ZoneID  string `json:"zone_id"`
}

// StartCloudflare serves the fake API for d's zone until the end of the test.
func StartCloudflare(t testing.TB, d *DNS) *Cloudflare {
	t.Helper()
	c := &Cloudflare{
		Token:   "test-token-" + strings.TrimSuffix(d.Zone, "."),
		ZoneID:  "zone-1",
		dns:     d,
		records: map[string]cfRecord{},
	}
	c.TokenFile = filepath.Join(t.TempDir(), "cloudflare.token")
	writeFile(t, c.TokenFile, c.Token+"\n", 0o600)
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	target, _ := url.Parse(c.srv.URL)
	c.Client = &http.Client{Transport: redirectTransport{target: target, next: c.srv.Client().Transport}}
	return c
}

// FailNext makes the next n API calls fail with HTTP 500 and a Cloudflare
// error body.
func (c *Cloudflare) FailNext(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failNext = n
}

// Calls returns "METHOD /path?query" of every call so far, in order.
func (c *Cloudflare) Calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

// Records returns how many DNS records the fake holds.
func (c *Cloudflare) Records() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.records)
}

// redirectTransport sends each request to target, keeping path and query.
type redirectTransport struct {
	target *url.URL
	next   http.RoundTripper
}

func (rt redirectTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = rt.target.Scheme, rt.target.Host, ""
	return rt.next.RoundTrip(r)
}

type cfError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func reply(w http.ResponseWriter, status int, result any, errs ...cfError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body := map[string]any{"success": len(errs) == 0, "errors": errs, "messages": []any{}, "result": result}
	if list, ok := result.([]cfRecord); ok {
		body["result_info"] = map[string]int{"page": 1, "per_page": 100, "count": len(list), "total_count": len(list)}
	}
	_ = json.NewEncoder(w).Encode(body)
}

func (c *Cloudflare) serve(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, "/client/v4")
	c.calls = append(c.calls, r.Method+" "+path+"?"+r.URL.RawQuery)
	if c.failNext > 0 {
		c.failNext--
		reply(w, http.StatusInternalServerError, nil, cfError{1000, "injected failure"})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+c.Token {
		reply(w, http.StatusForbidden, nil, cfError{10000, "Authentication error"})
		return
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && path == "/zones":
		c.listZones(w, r)
	case len(parts) < 3 || parts[0] != "zones" || parts[1] != c.ZoneID || parts[2] != "dns_records":
		reply(w, http.StatusNotFound, nil, cfError{7003, "Could not route to " + path})
	case r.Method == http.MethodPost && len(parts) == 3:
		c.createRecord(w, r)
	case r.Method == http.MethodGet && len(parts) == 3:
		c.listRecords(w, r)
	case r.Method == http.MethodDelete && len(parts) == 4:
		c.deleteRecord(w, parts[3])
	default:
		reply(w, http.StatusMethodNotAllowed, nil, cfError{10405, "Method not allowed"})
	}
}

// zone is the zone's name without the final dot, as the API spells it.
func (c *Cloudflare) zone() string { return strings.TrimSuffix(c.dns.Zone, ".") }

// listZones answers GET /zones?name=ZONE; c.mu is held.
func (c *Cloudflare) listZones(w http.ResponseWriter, r *http.Request) {
	result := []map[string]string{}
	if strings.TrimSuffix(r.URL.Query().Get("name"), ".") == c.zone() {
		result = append(result, map[string]string{"id": c.ZoneID, "name": c.zone(), "status": "active"})
	}
	reply(w, http.StatusOK, result)
}

// createRecord answers POST /zones/{id}/dns_records; c.mu is held.
func (c *Cloudflare) createRecord(w http.ResponseWriter, r *http.Request) {
	var rec cfRecord
	if err := json.NewDecoder(r.Body).Decode(&rec); err != nil || rec.Type != "TXT" {
		reply(w, http.StatusBadRequest, nil, cfError{9000, fmt.Sprintf("fake supports TXT records only (%v)", err)})
		return
	}
	zone := c.zone()
	name := strings.TrimSuffix(rec.Name, ".")
	if name != zone && !strings.HasSuffix(name, "."+zone) {
		name += "." + zone
	}
	c.nextID++
	rec.ID, rec.Name, rec.ZoneID = fmt.Sprintf("rec-%d", c.nextID), name, c.ZoneID
	c.records[rec.ID] = rec
	c.syncDNS(name)
	reply(w, http.StatusOK, rec)
}

// listRecords answers GET /zones/{id}/dns_records with its type, name and
// content.contains filters; c.mu is held.
func (c *Cloudflare) listRecords(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	result := []cfRecord{}
	for _, rec := range c.records {
		if (q.Get("type") == "" || rec.Type == q.Get("type")) &&
			(q.Get("name") == "" || strings.TrimSuffix(q.Get("name"), ".") == rec.Name) &&
			strings.Contains(rec.Content, q.Get("content.contains")) {
			result = append(result, rec)
		}
	}
	reply(w, http.StatusOK, result)
}

// deleteRecord answers DELETE /zones/{id}/dns_records/{id}; c.mu is held.
func (c *Cloudflare) deleteRecord(w http.ResponseWriter, id string) {
	rec, ok := c.records[id]
	if !ok {
		reply(w, http.StatusNotFound, nil, cfError{81044, "Record does not exist."})
		return
	}
	delete(c.records, rec.ID)
	c.syncDNS(rec.Name)
	reply(w, http.StatusOK, map[string]string{"id": rec.ID})
}

// syncDNS publishes the TXT records of name; c.mu is held.
func (c *Cloudflare) syncDNS(name string) {
	var values []string
	for _, rec := range c.records {
		if rec.Name == name && rec.Type == "TXT" {
			values = append(values, strings.Trim(rec.Content, `"`))
		}
	}
	c.dns.SetTXT(name, values...)
}
