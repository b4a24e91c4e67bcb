package disk_test

import (
	"testing"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/cache/cachetest"
	"github.com/private-nix-cache/private-nix-cache/cache/disk"
)

func TestCompliance(t *testing.T) {
	cachetest.Run(t, func(t *testing.T, dir string) cache.Store {
		c, err := disk.Open(disk.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}
