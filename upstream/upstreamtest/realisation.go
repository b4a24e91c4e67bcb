package upstreamtest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
)

// RealisationFingerprint is what a realisation's signatures sign, as Nix
// computes it: its JSON without them, keys in alphabetical order, store
// paths as basenames.
func RealisationFingerprint(id, outPath string, deps map[string]string) string {
	if deps == nil {
		deps = map[string]string{}
	}
	b, err := json.Marshal(struct {
		DependentRealisations map[string]string `json:"dependentRealisations"`
		ID                    string            `json:"id"`
		OutPath               string            `json:"outPath"`
	}{deps, id, outPath})
	if err != nil {
		panic(fmt.Sprintf("upstreamtest.RealisationFingerprint: %v", err))
	}
	return string(b)
}

// WriteRealisation writes realisations/<id>.doi into the cache in dir as
// Nix does, naming outPath (a basename) and deps (id → basename), signed
// by each of keys. It returns the file's contents and panics on any error
// (test helper).
func WriteRealisation(dir, id, outPath string, deps map[string]string, keys ...signature.SecretKey) []byte {
	if deps == nil {
		deps = map[string]string{}
	}
	fp := RealisationFingerprint(id, outPath, deps)
	sigs := []string{}
	for _, k := range keys {
		sig, err := k.Sign(nil, fp)
		if err != nil {
			panic(fmt.Sprintf("upstreamtest.WriteRealisation: sign: %v", err))
		}
		sigs = append(sigs, sig.String())
	}
	body, err := json.Marshal(struct {
		DependentRealisations map[string]string `json:"dependentRealisations"`
		ID                    string            `json:"id"`
		OutPath               string            `json:"outPath"`
		Signatures            []string          `json:"signatures"`
	}{deps, id, outPath, sigs})
	if err == nil {
		err = os.MkdirAll(filepath.Join(dir, "realisations"), 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "realisations", id+".doi"), body, 0o644)
	}
	if err != nil {
		panic(fmt.Sprintf("upstreamtest.WriteRealisation: %v", err))
	}
	return body
}
