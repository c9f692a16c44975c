package appservice

import (
	"regexp"
	"testing"
)

// The example registration in the repository root must stay loadable and keep the two settings
// that matter most: a non-exclusive user namespace and no rate limiting.
func TestRegistrationExampleLoads(t *testing.T) {
	reg, err := LoadRegistration("../registration.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if reg.RateLimited {
		t.Error("rate_limited must be false")
	}
	if len(reg.Namespaces.Users) != 1 || reg.Namespaces.Users[0].Exclusive {
		t.Fatalf("want one non-exclusive user namespace, got %+v", reg.Namespaces.Users)
	}
	re := regexp.MustCompile(reg.Namespaces.Users[0].Regex)
	if !re.MatchString("@alice:matrix.example.org") || re.MatchString("@alice:other.example.org") {
		t.Errorf("namespace %q should cover exactly the example server", reg.Namespaces.Users[0].Regex)
	}
	if reg.ASToken == reg.HSToken {
		t.Error("the example's two tokens must differ")
	}
}
