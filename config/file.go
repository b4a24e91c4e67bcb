package config

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/BurntSushi/toml"
)

// Decode reads TOML settings from r over c. Unknown keys are an error, so a
// typo never silently falls back to a default.
func (c *Config) Decode(r io.Reader) error {
	md, err := toml.NewDecoder(r).Decode(c)
	if err != nil {
		return err
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		return fmt.Errorf("unknown key %s", strings.Join(keys, ", "))
	}
	return nil
}

// DecodeFile reads the TOML file at path over c.
func (c *Config) DecodeFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return &Error{Key: "config", Err: err}
	}
	defer f.Close()
	if err := c.Decode(f); err != nil {
		return &Error{Key: "config", Err: fmt.Errorf("%s: %w", path, err)}
	}
	return nil
}
