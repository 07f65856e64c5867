package streams

import (
	"strings"
	"testing"
)

// The credentials of the tests below: neither may appear in an error.
const (
	testKeyID  = "AKIAEXAMPLEKEYID"
	testSecret = "Sup3rS3cretValue"
)

func assertNoCredentials(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range []string{testKeyID, testSecret, "Sup3r", "S3cret"} {
		if strings.Contains(text, s) {
			t.Errorf("%s: the error shows the credentials (%q): %s", what, s, text)
		}
	}
}

// TestS3EndpointWithCredentials: an endpoint URL with user:password@
// was accepted and its credentials silently dropped (requests went out
// anonymous, or with other keys), and some errors quoted it whole. It is
// refused, saying where the credentials go, without printing them.
func TestS3EndpointWithCredentials(t *testing.T) {
	userinfo := testKeyID + ":" + testSecret + "@"
	for _, endpoint := range []string{
		"https://" + userinfo + "127.0.0.1:9000",
		"http://" + userinfo + "s3.internal",
		userinfo + "s3.internal:443",
		"ftp://" + userinfo + "s3.internal",
		"https://" + testKeyID + ":Sup3r/S3cret@s3.internal",
		"https://" + testKeyID + ":Sup3r%40S3cret@s3.internal",
		"https://" + testKeyID + "@s3.internal",
	} {
		for _, name := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"} {
			_, err := S3ConfigFromEnv([]string{name + "=" + endpoint})
			if err == nil {
				t.Errorf("%s with credentials accepted", name)
				continue
			}
			assertNoCredentials(t, name, err.Error())
			if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY") {
				t.Errorf("%s: %v; want the variable named and where credentials go", name, err)
			}
		}
	}
}

// TestS3TargetWithCredentials: s3://user:password@bucket/prefix was
// taken as a bucket named "user:password@bucket", and the target quoted
// in errors. It is refused without printing it.
func TestS3TargetWithCredentials(t *testing.T) {
	env := []string{"AWS_ENDPOINT_URL_S3=http://127.0.0.1:1"}
	for _, target := range []string{
		"s3://" + testKeyID + ":" + testSecret + "@bucket/prefix",
		"s3://" + testKeyID + ":" + testSecret + "@bucket",
		"s3://" + testKeyID + ":Sup3r/S3cret@bucket/prefix",
		"s3://" + testKeyID + "@bucket/prefix",
	} {
		_, err := Open(target, env, false)
		if err == nil {
			t.Errorf("a target with credentials was accepted")
			continue
		}
		assertNoCredentials(t, "target", err.Error())
		if !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY") {
			t.Errorf("%v; want where credentials go", err)
		}
	}
	if _, err := Open("s3://bucket/user@example/x", env, false); err != nil {
		t.Errorf("an @ in the prefix is a key name, not credentials: %v", err)
	}
}
