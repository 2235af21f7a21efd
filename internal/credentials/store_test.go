package credentials

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/credentials/credentialstest"
)

// configJSON reads dir/config.json as plain JSON, as another tool would.
func configJSON(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("config.json: %v: %s", err, b)
	}
	return m
}

// authEntry returns config.json's auths[key], and whether it is there.
func authEntry(t *testing.T, dir, key string) (map[string]any, bool) {
	t.Helper()
	auths, _ := configJSON(t, dir)["auths"].(map[string]any)
	e, ok := auths[key].(map[string]any)
	return e, ok
}

func TestDir(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"DOCKER_CONFIG": "/d", "HOME": "/h"}, "/d"},
		{map[string]string{"HOME": "/h"}, "/h/.docker"},
	}
	for _, tt := range tests {
		if got := Dir(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("Dir(%v) = %q, want %q", tt.env, got, tt.want)
		}
	}
	if got := Dir(func(string) string { return "" }); !strings.HasSuffix(got, "/.docker") || got == "/.docker" {
		t.Errorf("Dir with no environment = %q, want the home directory's .docker", got)
	}
}

// Saving to the file writes docker's format: auths[KEY].auth = base64(user:password),
// mode 0600, the keys docker knows kept; Get, Where and Erase find the same entry under
// every name of the registry.
func TestStoreFile(t *testing.T) {
	tests := []struct {
		name     string
		server   string // given to Save
		key      string // config.json's key
		aliases  []string
		existing string // config.json before
	}{
		{"registry", "127.0.0.1:5000", "127.0.0.1:5000", []string{"http://127.0.0.1:5000", "https://127.0.0.1:5000/v2/"}, ""},
		{"hub", "", HubKey, []string{"docker.io", "index.docker.io", "registry-1.docker.io", HubKey}, ""},
		{"hub alias", "docker.io", HubKey, []string{""}, ""},
		{"other keys kept", "ghcr.io", "ghcr.io", nil,
			`{"auths": {"quay.io": {"auth": "` + base64.StdEncoding.EncodeToString([]byte("q:w")) + `"}}, "psFormat": "table {{.ID}}"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := credentialstest.ConfigDir(t, tt.existing)
			s := New(dir)
			ctx := t.Context()
			where, err := s.Save(ctx, tt.server, Login{User: "alice", Password: "se:cret"})
			if err != nil {
				t.Fatal(err)
			}
			if where != filepath.Join(dir, "config.json") {
				t.Errorf("Save went to %q, want config.json", where)
			}
			e, ok := authEntry(t, dir, tt.key)
			if want := base64.StdEncoding.EncodeToString([]byte("alice:se:cret")); !ok || e["auth"] != want {
				t.Fatalf("auths[%q] = %v, want auth %q; file: %v", tt.key, e, want, configJSON(t, dir))
			}
			fi, err := os.Stat(filepath.Join(dir, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("config.json mode %v, want 0600", fi.Mode().Perm())
			}
			if tt.existing != "" {
				m := configJSON(t, dir)
				if _, ok := authEntry(t, dir, "quay.io"); !ok || m["psFormat"] != "table {{.ID}}" {
					t.Errorf("the other keys were not kept: %v", m)
				}
			}
			for _, a := range append([]string{tt.server}, tt.aliases...) {
				l, ok, err := s.Get(ctx, a)
				if err != nil || !ok || l != (Login{User: "alice", Password: "se:cret"}) {
					t.Errorf("Get(%q) = %+v, %v, %v", a, l, ok, err)
				}
				if w, helper, err := s.Where(a); err != nil || helper || w != where {
					t.Errorf("Where(%q) = %q, %v, %v; want %q", a, w, helper, err, where)
				}
			}
			if l, ok, err := s.Get(ctx, "other.example"); err != nil || ok || !l.IsZero() {
				t.Errorf("Get(other.example) = %+v, %v, %v; want nothing", l, ok, err)
			}
			found, err := s.Erase(ctx, tt.server)
			if err != nil || !found {
				t.Fatalf("Erase = %v, %v", found, err)
			}
			if _, ok := authEntry(t, dir, tt.key); ok {
				t.Errorf("auths[%q] still there after Erase", tt.key)
			}
			if found, err := s.Erase(ctx, tt.server); err != nil || found {
				t.Errorf("second Erase = %v, %v; want false, nil", found, err)
			}
		})
	}
}

// Files written by old docker versions keep logins under the URL of the registry.
func TestStoreLegacyKey(t *testing.T) {
	auth := base64.StdEncoding.EncodeToString([]byte("bob:pw"))
	dir := credentialstest.ConfigDir(t, `{"auths": {"https://reg.example:5000": {"auth": "`+auth+`"}}}`)
	s := New(dir)
	l, ok, err := s.Get(t.Context(), "reg.example:5000")
	if err != nil || !ok || l.User != "bob" || l.Password != "pw" {
		t.Fatalf("Get = %+v, %v, %v", l, ok, err)
	}
	if found, err := s.Erase(t.Context(), "reg.example:5000"); err != nil || !found {
		t.Fatalf("Erase = %v, %v", found, err)
	}
	if auths := configJSON(t, dir)["auths"].(map[string]any); len(auths) != 0 {
		t.Fatalf("auths after Erase: %v", auths)
	}
}

// With credsStore (or a credHelpers entry) the secret goes to the helper; config.json
// keeps only docker's empty entry.
func TestStoreHelper(t *testing.T) {
	tests := []struct {
		name   string
		config string
		server string
		key    string
	}{
		{"credsStore", `{"credsStore": "berthtest"}`, "127.0.0.1:5000", "127.0.0.1:5000"},
		{"credsStore, hub", `{"credsStore": "berthtest"}`, "docker.io", HubKey},
		{"credHelpers", `{"credsStore": "nosuch", "credHelpers": {"reg.example": "berthtest"}}`, "reg.example", "reg.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := credentialstest.InstallHelper(t)
			dir := credentialstest.ConfigDir(t, tt.config)
			s := New(dir)
			ctx := t.Context()
			where, err := s.Save(ctx, tt.server, Login{User: "alice", Password: "secret"})
			if err != nil {
				t.Fatal(err)
			}
			if where != "docker-credential-berthtest" {
				t.Errorf("Save went to %q, want the helper", where)
			}
			if got, ok := h.Get(t, tt.key); !ok || got != (credentialstest.Stored{ServerURL: tt.key, Username: "alice", Secret: "secret"}) {
				t.Fatalf("the helper holds %+v, %v", got, ok)
			}
			e, ok := authEntry(t, dir, tt.key)
			if !ok || len(e) != 0 {
				t.Fatalf("config.json's auths[%q] = %v, %v; want docker's empty entry", tt.key, e, ok)
			}
			l, ok, err := s.Get(ctx, tt.server)
			if err != nil || !ok || l != (Login{User: "alice", Password: "secret"}) {
				t.Fatalf("Get = %+v, %v, %v", l, ok, err)
			}
			if found, err := s.Erase(ctx, tt.server); err != nil || !found {
				t.Fatalf("Erase = %v, %v", found, err)
			}
			if _, ok := h.Get(t, tt.key); ok {
				t.Errorf("the helper still holds the login")
			}
			if _, ok := authEntry(t, dir, tt.key); ok {
				t.Errorf("config.json still has auths[%q]", tt.key)
			}
			if found, err := s.Erase(ctx, tt.server); err != nil || found {
				t.Errorf("second Erase = %v, %v", found, err)
			}
			if calls := h.Calls(t); !slices.Contains(calls, "store") || !slices.Contains(calls, "erase") {
				t.Errorf("helper calls %v", calls)
			}
		})
	}
}

// An identity token goes to the helper under docker's "<token>" user and comes back as
// a token.
func TestStoreHelperToken(t *testing.T) {
	h := credentialstest.InstallHelper(t)
	s := New(credentialstest.ConfigDir(t, `{"credsStore": "berthtest"}`))
	if _, err := s.Save(t.Context(), "reg.example", Login{IdentityToken: "tok"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.Get(t, "reg.example"); got.Username != "<token>" || got.Secret != "tok" {
		t.Fatalf("the helper holds %+v", got)
	}
	if l, ok, err := s.Get(t.Context(), "reg.example"); err != nil || !ok || l != (Login{IdentityToken: "tok"}) {
		t.Fatalf("Get = %+v, %v, %v", l, ok, err)
	}
}

// A helper that fails, or is missing, is named in the error with what it printed.
func TestStoreHelperErrors(t *testing.T) {
	credentialstest.InstallFailing(t, "berthfail", "pass store is not initialized")
	tests := []struct {
		name, config string
		want         []string
		notFound     bool
	}{
		{"fails", `{"credsStore": "berthfail"}`, []string{"docker-credential-berthfail", "pass store is not initialized", "reg.example"}, false},
		{"missing", `{"credHelpers": {"reg.example": "nosuchhelper"}}`, []string{"docker-credential-nosuchhelper", "not on PATH"}, true},
		{"path", `{"credsStore": "../x"}`, []string{"not a helper name"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(credentialstest.ConfigDir(t, tt.config))
			ops := map[string]func() error{
				"save": func() error {
					_, err := s.Save(t.Context(), "reg.example", Login{User: "u", Password: "p"})
					return err
				},
				"get":   func() error { _, _, err := s.Get(t.Context(), "reg.example"); return err },
				"erase": func() error { _, err := s.Erase(t.Context(), "reg.example"); return err },
			}
			for op, fn := range ops {
				err := fn()
				var he *HelperError
				if !errors.As(err, &he) {
					t.Fatalf("%s: %v, want a *HelperError", op, err)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: %q does not say %q", op, err, w)
					}
				}
				if errors.Is(err, exec.ErrNotFound) != tt.notFound {
					t.Errorf("%s: errors.Is(exec.ErrNotFound) = %v", op, !tt.notFound)
				}
			}
		})
	}
}

func TestStoreBadConfig(t *testing.T) {
	dir := credentialstest.ConfigDir(t, `{"auths": `)
	s := New(dir)
	for op, err := range map[string]error{
		"get":  func() error { _, _, err := s.Get(t.Context(), "reg.example"); return err }(),
		"save": func() error { _, err := s.Save(t.Context(), "reg.example", Login{User: "u"}); return err }(),
	} {
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "config.json")) {
			t.Errorf("%s with a broken config.json: %v; want an error naming the file", op, err)
		}
	}
	if _, err := s.Save(t.Context(), "a b", Login{}); !errors.Is(err, ErrBadServer) {
		t.Errorf("Save of a bad server: %v", err)
	}
}
