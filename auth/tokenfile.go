package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// Token is one entry of a token file. The secret itself is kept only as
// its SHA-256, so that comparing it leaks no length.
type Token struct {
	// Name says whose token it is in logs; never the secret.
	Name   string
	Scopes Scope
	hash   [sha256.Size]byte
}

// NewToken makes a Token from its secret, checked as a token file's would be.
func NewToken(name string, scopes Scope, secret string) (Token, error) {
	if err := checkName(name); err != nil {
		return Token{}, err
	}
	if scopes == 0 {
		return Token{}, errors.New("no scope")
	}
	if err := checkSecret(secret); err != nil {
		return Token{}, err
	}
	return Token{Name: name, Scopes: scopes, hash: sha256.Sum256([]byte(secret))}, nil
}

// Bounds of a secret: 16 characters of hex are 64 bits, beyond what the
// back-off lets anyone guess; 512 bounds what a line may hold.
const (
	MinSecretLen = 16
	MaxSecretLen = 512
	maxNameLen   = 64
	maxLineLen   = 1024
)

// Parse reads a token file: one token a line as "NAME SCOPES SECRET",
// fields separated by blanks, SCOPES a comma-separated list of read, push,
// sign and metrics. Blank lines and lines starting with # are skipped. source
// names the file in errors; errors never quote a secret.
func Parse(source string, data []byte) ([]Token, error) {
	var tokens []Token
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 256), maxLineLen)
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		t, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", source, lineNo, err)
		}
		tokens = append(tokens, t)
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, fmt.Errorf("%s: a line is longer than %d bytes", source, maxLineLen)
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%s: no token in the file", source)
	}
	return tokens, nil
}

func parseLine(line string) (Token, error) {
	fields := strings.Fields(line)
	if len(fields) != 3 {
		return Token{}, fmt.Errorf("%d fields, want 3: NAME SCOPES SECRET", len(fields))
	}
	scopes, err := ParseScopes(fields[1])
	if err != nil {
		return Token{}, err
	}
	return NewToken(fields[0], scopes, fields[2])
}

func checkName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("name must be 1 to %d characters", maxNameLen)
	}
	for _, c := range []byte(name) {
		if !isAlnum(c) && c != '-' && c != '_' && c != '.' && c != '@' {
			return fmt.Errorf("name %q: only letters, digits and - _ . @", name)
		}
	}
	return nil
}

// checkSecret keeps to the characters of hex, base64 and base64url, which
// a netrc holds without quoting. Its errors do not quote the secret.
func checkSecret(secret string) error {
	if len(secret) < MinSecretLen || len(secret) > MaxSecretLen {
		return fmt.Errorf("secret must be %d to %d characters (openssl rand -hex 32)", MinSecretLen, MaxSecretLen)
	}
	for _, c := range []byte(secret) {
		if !isAlnum(c) && !strings.ContainsRune("-._~+/=", rune(c)) {
			return errors.New("secret may hold only letters, digits and - . _ ~ + / =")
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
