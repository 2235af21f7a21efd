package credentials

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"os/exec"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/berth-dev/berth/internal/credentials/credentialstest"
	"github.com/berth-dev/berth/internal/registrytest"
)

// resolve returns the user and password kc gives for ref.
func resolve(t *testing.T, kc authn.Keychain, ref string) (*authn.AuthConfig, error) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	a, err := authn.Resolve(t.Context(), kc, r.Context())
	if err != nil {
		return nil, err
	}
	return authn.Authorization(t.Context(), a)
}

func TestKeychain(t *testing.T) {
	tests := []struct {
		name   string
		config string
		helper bool
		server string // saved under
		ref    string // resolved
		found  bool
	}{
		{"file", "", false, "127.0.0.1:5000", "127.0.0.1:5000/ns/app:1", true},
		{"file, other registry", "", false, "127.0.0.1:5000", "127.0.0.1:5001/app", false},
		{"hub", "", false, "", "alpine", true},
		{"hub, saved as docker.io", "", false, "docker.io", "index.docker.io/library/alpine:3", true},
		{"hub, not saved", "", false, "ghcr.io", "alpine", false},
		{"helper", `{"credsStore": "berthtest"}`, true, "reg.example", "reg.example/app@sha256:" + zeros, true},
		{"helper, other registry", `{"credsStore": "berthtest"}`, true, "reg.example", "other.example/app", false},
	}
	// A registry name go-containerregistry takes and ParseServer does not is looked up as is.
	t.Run("unparsed name", func(t *testing.T) {
		dir := credentialstest.ConfigDir(t, `{"auths": {"reg~x.example": {"auth": "`+
			base64.StdEncoding.EncodeToString([]byte("bob:pw"))+`"}}}`)
		got, err := resolve(t, New(dir).Keychain(), "reg~x.example/app")
		if err != nil || *got != (authn.AuthConfig{Username: "bob", Password: "pw"}) {
			t.Fatalf("Keychain gives %+v, %v", got, err)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.helper {
				credentialstest.InstallHelper(t)
			}
			s := New(credentialstest.ConfigDir(t, tt.config))
			if _, err := s.Save(t.Context(), tt.server, Login{User: "alice", Password: "secret"}); err != nil {
				t.Fatal(err)
			}
			got, err := resolve(t, s.Keychain(), tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			want := authn.AuthConfig{}
			if tt.found {
				want = authn.AuthConfig{Username: "alice", Password: "secret"}
			}
			if *got != want {
				t.Fatalf("Keychain gives %+v for %s, want %+v", got, tt.ref, want)
			}
		})
	}
}

const zeros = "0000000000000000000000000000000000000000000000000000000000000000"

func TestKeychainHelperFails(t *testing.T) {
	credentialstest.InstallFailing(t, "berthfail", "no keyring")
	s := New(credentialstest.ConfigDir(t, `{"credsStore": "berthfail"}`))
	_, err := resolve(t, s.Keychain(), "reg.example/app")
	var he *HelperError
	if !errors.As(err, &he) || he.Helper != "docker-credential-berthfail" || he.Output != "no keyring" {
		t.Fatalf("Keychain with a failing helper: %v", err)
	}
}

// A login written by the real crane (`crane auth login`) is read by Keychain, and it
// opens the registry with htpasswd auth.
func TestKeychainReadsCraneLogin(t *testing.T) {
	crane := credentialstest.Crane(t)
	reg := registrytest.Start(t, registrytest.Options{Users: map[string]string{"alice": "secret"}})
	s := New(credentialstest.ConfigDir(t, ""))
	out, err := exec.CommandContext(t.Context(), crane, "auth", "login", reg.Addr, "-u", "alice", "-p", "secret").CombinedOutput()
	if err != nil {
		t.Fatalf("crane auth login: %v: %s", err, out)
	}
	got, err := resolve(t, s.Keychain(), reg.Addr+"/app:1")
	if err != nil || *got != (authn.AuthConfig{Username: "alice", Password: "secret"}) {
		t.Fatalf("Keychain after crane auth login: %+v, %v", got, err)
	}
	r, err := name.NewRegistry(reg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	catalog := func(kc authn.Keychain) error {
		_, err := remote.Catalog(t.Context(), r, remote.WithAuthFromKeychain(kc))
		return err
	}
	if err := catalog(s.Keychain()); err != nil {
		t.Fatalf("catalog with the Keychain: %v", err)
	}
	// Without the login the registry refuses: the check above is not vacuous.
	var terr *transport.Error
	if err := catalog(New(t.TempDir()).Keychain()); !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("catalog without a login: %v, want 401", err)
	}
}

// The keychain is also an authn.ContextKeychain: a helper run is bound to the context.
func TestKeychainContext(t *testing.T) {
	credentialstest.InstallHelper(t)
	s := New(credentialstest.ConfigDir(t, `{"credsStore": "berthtest"}`))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	kc, ok := s.Keychain().(authn.ContextKeychain)
	if !ok {
		t.Fatal("Keychain is not an authn.ContextKeychain")
	}
	r, _ := name.NewRegistry("reg.example")
	if _, err := kc.ResolveContext(ctx, r); !errors.Is(err, context.Canceled) {
		t.Fatalf("ResolveContext with a canceled context: %v", err)
	}
}
