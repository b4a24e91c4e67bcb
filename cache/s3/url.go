package s3

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7/pkg/credentials"
)

// ParseURL reads a storage URL:
//
//	s3://BUCKET?endpoint=HOST:PORT&region=R&insecure=1
//	    &access-key-file=PATH&secret-key-file=PATH&profile=P
//
// Every parameter is optional. scheme=http (as Nix's s3:// URLs say it) is
// insecure=1. Unknown parameters are refused, so a typo is not ignored.
func ParseURL(raw string) (Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Options{}, fmt.Errorf("storage url: %w", err)
	}
	if u.Scheme != "s3" {
		return Options{}, fmt.Errorf("storage url %q: scheme is not s3", raw)
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") || u.User != nil || u.Fragment != "" {
		return Options{}, fmt.Errorf("storage url %q: want s3://BUCKET?parameters", raw)
	}
	o := Options{Bucket: u.Host}
	for name, values := range u.Query() {
		if len(values) != 1 {
			return Options{}, fmt.Errorf("storage url: parameter %s given %d times", name, len(values))
		}
		if err := o.setParam(name, values[0]); err != nil {
			return Options{}, fmt.Errorf("storage url: %w", err)
		}
	}
	if (o.AccessKeyFile == "") != (o.SecretKeyFile == "") {
		return Options{}, errors.New("storage url: access-key-file and secret-key-file go together")
	}
	return o, nil
}

func (o *Options) setParam(name, v string) error {
	switch name {
	case "endpoint":
		if v == "" || strings.ContainsAny(v, "/?#@") {
			return fmt.Errorf("endpoint %q: want HOST[:PORT]", v)
		}
		o.Endpoint = v
	case "region":
		o.Region = v
	case "insecure":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("insecure %q: want 1 or 0", v)
		}
		o.Insecure = b
	case "scheme":
		if v != "http" && v != "https" {
			return fmt.Errorf("scheme %q: want http or https", v)
		}
		o.Insecure = v == "http"
	case "access-key-file":
		o.AccessKeyFile = v
	case "secret-key-file":
		o.SecretKeyFile = v
	case "profile":
		o.Profile = v
	default:
		return fmt.Errorf("unknown parameter %q", name)
	}
	return nil
}

// credentialsOf reads the key files, or falls back to the AWS environment
// variables and shared credentials file. Instance metadata (IAM roles) is
// not asked: it would be a network call on every machine without keys.
func credentialsOf(o Options) (*credentials.Credentials, error) {
	if o.AccessKeyFile == "" && o.SecretKeyFile == "" {
		return credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.FileAWSCredentials{Profile: o.Profile},
		}), nil
	}
	if o.AccessKeyFile == "" || o.SecretKeyFile == "" {
		return nil, errors.New("access key file and secret key file go together")
	}
	access, err := readSecret(o.AccessKeyFile)
	if err != nil {
		return nil, err
	}
	secret, err := readSecret(o.SecretKeyFile)
	if err != nil {
		return nil, err
	}
	return credentials.NewStaticV4(access, secret, ""), nil
}

func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read credentials: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("read credentials: %s is empty", path)
	}
	return s, nil
}
