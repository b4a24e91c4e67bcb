package narinfo

import (
	"errors"
	"strings"
	"testing"
)

func TestCacheInfoBytes(t *testing.T) {
	tests := []struct {
		in   CacheInfo
		want string
	}{
		{CacheInfo{WantMassQuery: true, Priority: 30}, "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n"},
		{CacheInfo{StoreDir: "/gnu/store", Priority: -1}, "StoreDir: /gnu/store\nWantMassQuery: 0\nPriority: -1\n"},
	}
	for _, tc := range tests {
		if got := string(tc.in.Bytes()); got != tc.want {
			t.Errorf("%+v.Bytes() = %q, want %q", tc.in, got, tc.want)
		}
		back, err := ParseCacheInfo(strings.NewReader(tc.want))
		if err != nil {
			t.Fatal(err)
		}
		if want := tc.in; back.StoreDir != strings.Fields(tc.want)[1] || back.WantMassQuery != want.WantMassQuery ||
			back.Priority != want.Priority {
			t.Errorf("round trip of %+v = %+v", tc.in, back)
		}
	}
}

func TestParseCacheInfo(t *testing.T) {
	tests := []struct {
		name, in string
		want     CacheInfo
		wantErr  string
	}{
		{"cache.nixos.org", "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n",
			CacheInfo{"/nix/store", true, 40}, ""},
		{"tolerant", "\r\nWantMassQuery: 1\r\nPriority:  30 \r\nX-Extra: a: b\nPriority: 5\n",
			CacheInfo{"", true, 30}, ""},
		{"mass query only for 1", "WantMassQuery: true\n", CacheInfo{}, ""},
		{"empty", "", CacheInfo{}, ""},
		{"priority not integer", "Priority: high\n", CacheInfo{}, "not an integer"},
		{"no colon", "<html>\n", CacheInfo{}, "no \"Key: value\""},
		{"too large", strings.Repeat("X: y\n", 20000), CacheInfo{}, "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCacheInfo(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrInvalid) {
					t.Errorf("ParseCacheInfo() error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ParseCacheInfo() = %+v, want %+v", got, tc.want)
			}
		})
	}
}
