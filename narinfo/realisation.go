package narinfo

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
)

// Realisation says which store path an output of a content-addressed
// derivation (Nix's ca-derivations) was built to: a binary cache's
// realisations/<id>.doi file.
type Realisation struct {
	ID      string // "sha256:<hex>!<output>"
	OutPath string // a store path basename, <hash>-<name>
	// DependentRealisations maps the ID of each realisation this one was
	// built from to its out path basename; never nil.
	DependentRealisations map[string]string
	Signatures            []string // "name:base64"; never nil
}

// realisationFields is a realisation as Nix serialises it without its
// signatures, which is what they sign: fields in this (alphabetical)
// order, store paths as basenames, no spaces.
type realisationFields struct {
	DependentRealisations map[string]string `json:"dependentRealisations"`
	ID                    string            `json:"id"`
	OutPath               string            `json:"outPath"`
}

// realisationDoc is the .doi file: the same, then the signatures.
type realisationDoc struct {
	realisationFields
	Signatures []string `json:"signatures"`
}

// ParseRealisation parses the .doi file served for id and checks its
// fields: it must name id itself, and every id and store path must be one
// Nix writes, so that its fingerprint is the bytes Nix signs.
func ParseRealisation(id string, body []byte) (*Realisation, error) {
	var doc realisationDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("parse realisation %s: %w", id, err)
	}
	switch {
	case doc.ID != id:
		return nil, fmt.Errorf("realisation %s: names id %q", id, doc.ID)
	case !ValidRealisationID(doc.ID):
		return nil, fmt.Errorf("realisation %q: invalid id", id)
	case !ValidBaseName(doc.OutPath):
		return nil, fmt.Errorf("realisation %s: invalid out path %q", id, doc.OutPath)
	}
	for depID, depPath := range doc.DependentRealisations {
		if !ValidRealisationID(depID) || !ValidBaseName(depPath) {
			return nil, fmt.Errorf("realisation %s: invalid dependent realisation %q → %q", id, depID, depPath)
		}
	}
	r := &Realisation{
		ID: doc.ID, OutPath: doc.OutPath,
		DependentRealisations: doc.DependentRealisations, Signatures: doc.Signatures,
	}
	if r.DependentRealisations == nil {
		r.DependentRealisations = map[string]string{}
	}
	if r.Signatures == nil {
		r.Signatures = []string{}
	}
	return r, nil
}

// Fingerprint is the text the signatures of r sign: its JSON without
// them. ParseRealisation admits no character that Go's encoder and Nix's
// would write differently, and Go sorts map keys as Nix does.
func (r *Realisation) Fingerprint() (string, error) {
	b, err := json.Marshal(realisationFields{r.DependentRealisations, r.ID, r.OutPath})
	if err != nil {
		return "", fmt.Errorf("encode realisation %s: %w", r.ID, err)
	}
	return string(b), nil
}

// Verify reports whether one of r's signatures verifies with one of keys.
func (r *Realisation) Verify(keys []signature.PublicKey) bool {
	fp, err := r.Fingerprint()
	if err != nil {
		return false
	}
	for _, s := range r.Signatures {
		sig, err := signature.ParseSignature(s)
		if err != nil {
			continue
		}
		for _, k := range keys {
			// ed25519.Verify panics on a malformed key: check the size first.
			if k.Name == sig.Name && len(k.Data) == ed25519.PublicKeySize && k.Verify(fp, sig) {
				return true
			}
		}
	}
	return false
}

// Sign adds a signature by each of keys, in place of any earlier one by
// a key of the same name.
func (r *Realisation) Sign(keys ...signature.SecretKey) error {
	fp, err := r.Fingerprint()
	if err != nil {
		return err
	}
	for _, k := range keys {
		sig, err := k.Sign(nil, fp)
		if err != nil {
			return fmt.Errorf("sign realisation %s: %w", r.ID, err)
		}
		kept := make([]string, 0, len(r.Signatures)+1)
		for _, s := range r.Signatures {
			if !strings.HasPrefix(s, sig.Name+":") {
				kept = append(kept, s)
			}
		}
		r.Signatures = append(kept, sig.String())
	}
	return nil
}

// Bytes is r as a .doi file, as Nix writes one.
func (r *Realisation) Bytes() ([]byte, error) {
	sigs := r.Signatures
	if sigs == nil {
		sigs = []string{} // Nix always writes the list
	}
	b, err := json.Marshal(realisationDoc{realisationFields{r.DependentRealisations, r.ID, r.OutPath}, sigs})
	if err != nil {
		return nil, fmt.Errorf("encode realisation %s: %w", r.ID, err)
	}
	return b, nil
}

// ValidRealisationID reports whether id is "sha256:<64 lower-case
// hex>!<output name>", the only form Nix writes.
func ValidRealisationID(id string) bool {
	_, _, ok := SplitRealisationID(id)
	return ok
}

// SplitRealisationID splits a valid realisation id into the derivation's
// hash ("sha256:<hex>", as the Nix database stores it) and the output name.
func SplitRealisationID(id string) (drvHash, output string, ok bool) {
	drvHash, output, ok = strings.Cut(id, "!")
	hex, isSHA256 := strings.CutPrefix(drvHash, "sha256:")
	if !ok || !isSHA256 || len(hex) != 64 || !ValidName(output) {
		return "", "", false
	}
	for i := 0; i < len(hex); i++ {
		if c := hex[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", "", false
		}
	}
	return drvHash, output, true
}
