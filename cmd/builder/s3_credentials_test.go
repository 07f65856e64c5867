package main

import (
	"strings"
	"testing"
)

// TestS3CredentialsRefusedUnprinted: credentials written into the S3
// endpoint or the s3:// target were silently dropped; publish and tree
// refuse them, and nothing they print holds them.
func TestS3CredentialsRefusedUnprinted(t *testing.T) {
	const keyID, secret = "AKIACLIEXAMPLEID", "cliSecretValue42"
	outDir := t.TempDir()
	for _, tt := range []struct {
		name    string
		environ []string
		args    []string
	}{
		{"endpoint", []string{"AWS_ENDPOINT_URL_S3=https://" + keyID + ":" + secret + "@127.0.0.1:9"}, []string{"publish", "s3://images/nightly", outDir}},
		{"endpoint, bad scheme", []string{"AWS_ENDPOINT_URL=ftp://" + keyID + ":" + secret + "@127.0.0.1:9"}, []string{"tree", "list", "s3://images/nightly"}},
		{"target", []string{"AWS_ENDPOINT_URL_S3=http://127.0.0.1:9"}, []string{"publish", "s3://" + keyID + ":" + secret + "@images/nightly", outDir}},
		{"target, tree", []string{"AWS_ENDPOINT_URL_S3=http://127.0.0.1:9"}, []string{"tree", "verify", "s3://" + keyID + ":" + secret + "@images"}},
	} {
		stdout, stderr, code := runCLI(t, "", tt.environ, tt.args...)
		if code == 0 || !strings.Contains(stderr, "credentials") {
			t.Errorf("%s: exit %d, want a refusal naming the credentials:\n%s", tt.name, code, stderr)
		}
		for _, s := range []string{keyID, secret} {
			if strings.Contains(stdout+stderr, s) {
				t.Errorf("%s: %q printed:\n%s%s", tt.name, s, stdout, stderr)
			}
		}
	}
}
