package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestHandler(t *testing.T) {
	dir := t.TempDir()
	body := "StorePath: /nix/store/aaaa-x\n"
	if err := os.WriteFile(filepath.Join(dir, "aaaa.narinfo"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	bodies, err := load(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := handler(bodies)
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/aaaa.narinfo", 200, body},
		{"/bbbb.narinfo", 404, ""},
		{"/nix-cache-info", 200, "StoreDir: /nix/store\n"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		if rec.Code != tc.code || (tc.body != "" && rec.Body.String() != tc.body) {
			t.Errorf("%s: %d %q, want %d %q", tc.path, rec.Code, rec.Body.String(), tc.code, tc.body)
		}
	}
	if _, err := load(t.TempDir()); err == nil {
		t.Error("an empty folder loaded")
	}
}
