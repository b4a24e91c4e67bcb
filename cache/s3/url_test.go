package s3

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want Options
	}{
		{"s3://cache", Options{Bucket: "cache"}},
		{"s3://cache?endpoint=127.0.0.1:7070&region=eu-west-1&insecure=1",
			Options{Bucket: "cache", Endpoint: "127.0.0.1:7070", Region: "eu-west-1", Insecure: true}},
		{"s3://cache?scheme=http&endpoint=minio.lan", Options{Bucket: "cache", Endpoint: "minio.lan", Insecure: true}},
		{"s3://cache?access-key-file=/run/a&secret-key-file=/run/s&profile=p",
			Options{Bucket: "cache", AccessKeyFile: "/run/a", SecretKeyFile: "/run/s", Profile: "p"}},
	} {
		got, err := ParseURL(tc.url)
		if err != nil || got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tc.url, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		"http://cache", "s3://", "s3://cache/prefix", "s3://cache?endpont=x", "s3://cache?insecure=maybe",
		"s3://cache?scheme=ftp", "s3://cache?endpoint=http://x", "s3://cache?region=a&region=b",
		"s3://cache?access-key-file=/a", "s3://user@cache", "s3://cache#x",
	} {
		if o, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) = %+v, want an error", bad, o)
		}
	}
}

func TestCredentials(t *testing.T) {
	dir := t.TempDir()
	access, secret := filepath.Join(dir, "a"), filepath.Join(dir, "s")
	os.WriteFile(access, []byte(" AKID\n"), 0o600)
	os.WriteFile(secret, []byte("SECRET\n"), 0o600)
	creds, err := credentialsOf(Options{AccessKeyFile: access, SecretKeyFile: secret})
	if err != nil {
		t.Fatal(err)
	}
	v, err := creds.GetWithContext(nil)
	if err != nil || v.AccessKeyID != "AKID" || v.SecretAccessKey != "SECRET" {
		t.Errorf("from files: %+v, %v", v, err)
	}
	if _, err := credentialsOf(Options{AccessKeyFile: access, SecretKeyFile: filepath.Join(dir, "none")}); err == nil {
		t.Error("a missing secret key file was accepted")
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	if _, err := credentialsOf(Options{AccessKeyFile: access, SecretKeyFile: empty}); err == nil {
		t.Error("an empty secret key file was accepted")
	}

	t.Setenv("AWS_ACCESS_KEY_ID", "ENVID")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET")
	creds, err = credentialsOf(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := creds.GetWithContext(nil); err != nil || v.AccessKeyID != "ENVID" {
		t.Errorf("from the environment: %+v, %v", v, err)
	}

	shared := filepath.Join(dir, "credentials")
	os.WriteFile(shared, []byte("[ci]\naws_access_key_id = FILEID\naws_secret_access_key = FILESECRET\n"), 0o600)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", shared)
	creds, _ = credentialsOf(Options{Profile: "ci"})
	if v, err := creds.GetWithContext(nil); err != nil || v.AccessKeyID != "FILEID" || v.SecretAccessKey != "FILESECRET" {
		t.Errorf("from the shared credentials file: %+v, %v", v, err)
	}
}
