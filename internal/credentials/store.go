package credentials

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
)

// DirEnv names the variable that moves docker's configuration directory.
const DirEnv = "DOCKER_CONFIG"

// Dir returns docker's configuration directory: $DOCKER_CONFIG, else $HOME/.docker
// (else the home directory the system knows).
func Dir(getenv func(string) string) string {
	if d := getenv(DirEnv); d != "" {
		return d
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".docker")
}

// Login is a registry login.
type Login struct {
	// User and Password are the user's; Password is empty when IdentityToken is used.
	User, Password string
	// IdentityToken is an OAuth refresh token stored instead of a password (docker's
	// "identitytoken", a helper's "<token>" user).
	IdentityToken string
	// RegistryToken is a bearer token sent as is (docker's "registrytoken").
	RegistryToken string
}

// IsZero reports whether l holds no credential.
func (l Login) IsZero() bool { return l == Login{} }

// Store is the logins of one docker configuration directory.
type Store struct {
	dir string
}

// New returns the store of the configuration directory dir (see Dir).
func New(dir string) *Store { return &Store{dir: dir} }

// Path returns the path of the store's config.json.
func (s *Store) Path() string { return filepath.Join(s.dir, config.ConfigFileName) }

// load reads config.json; a missing file is an empty configuration.
func (s *Store) load() (*configfile.ConfigFile, error) {
	cf, err := config.Load(s.dir)
	if err != nil {
		return nil, fmt.Errorf("%w (fix or move the file; docker, crane and berth keep registry logins there)", err)
	}
	return cf, nil
}

// helperFor returns the credential helper (NAME of docker-credential-NAME) that holds
// key's login, or "": credHelpers' entry for the registry, else credsStore.
func helperFor(cf *configfile.ConfigFile, key string) string {
	if h, ok := cf.CredentialHelpers[key]; ok {
		return h
	}
	return cf.CredentialsStore
}

// Where tells where the login of server is or would be stored: the helper's program
// ("docker-credential-pass") or the path of config.json.
func (s *Store) Where(server string) (where string, helper bool, err error) {
	srv, err := ParseServer(server)
	if err != nil {
		return "", false, err
	}
	cf, err := s.load()
	if err != nil {
		return "", false, err
	}
	if h := helperFor(cf, srv.Key); h != "" {
		return helperPrefix + h, true, nil
	}
	return cf.Filename, false, nil
}

// Get returns the stored login of server, and whether there is one.
func (s *Store) Get(ctx context.Context, server string) (Login, bool, error) {
	srv, err := ParseServer(server)
	if err != nil {
		return Login{}, false, err
	}
	cf, err := s.load()
	if err != nil {
		return Login{}, false, err
	}
	return get(ctx, cf, srv)
}

func get(ctx context.Context, cf *configfile.ConfigFile, srv Server) (Login, bool, error) {
	if h := helperFor(cf, srv.Key); h != "" {
		return helperGet(ctx, h, srv.Key)
	}
	ac, ok := fileEntry(cf, srv)
	if !ok {
		return Login{}, false, nil
	}
	l := Login{User: ac.Username, Password: ac.Password, IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}
	return l, !l.IsZero(), nil
}

// fileKeys are the keys a login of srv may be found under in the file: its key and, for
// files written by old docker versions, the host with a scheme.
func fileKeys(srv Server) []string {
	if srv.Hub() {
		return []string{srv.Key}
	}
	return []string{srv.Key, "https://" + srv.Host, "http://" + srv.Host}
}

func fileEntry(cf *configfile.ConfigFile, srv Server) (types.AuthConfig, bool) {
	for _, k := range fileKeys(srv) {
		if ac, ok := cf.AuthConfigs[k]; ok {
			return ac, true
		}
	}
	return types.AuthConfig{}, false
}

// Save stores l as the login of server: in the credential helper config.json names for
// it, else in config.json itself. It returns where it went (as Where).
func (s *Store) Save(ctx context.Context, server string, l Login) (where string, err error) {
	srv, err := ParseServer(server)
	if err != nil {
		return "", err
	}
	cf, err := s.load()
	if err != nil {
		return "", err
	}
	entry := types.AuthConfig{Username: l.User, Password: l.Password, IdentityToken: l.IdentityToken,
		RegistryToken: l.RegistryToken, ServerAddress: srv.Key}
	where = cf.Filename
	if h := helperFor(cf, srv.Key); h != "" {
		if err := helperStore(ctx, h, srv.Key, l); err != nil {
			return "", err
		}
		// docker keeps an empty entry: the file says which registries have a login.
		entry = types.AuthConfig{ServerAddress: srv.Key}
		where = helperPrefix + h
	}
	for _, k := range fileKeys(srv)[1:] {
		delete(cf.AuthConfigs, k)
	}
	cf.AuthConfigs[srv.Key] = entry
	if err := cf.Save(); err != nil {
		return "", fmt.Errorf("saving the login of %s in %s: %w", srv.Host, cf.Filename, err)
	}
	return where, nil
}

// Erase removes the login of server from the file and from its credential helper. It
// reports whether there was one.
func (s *Store) Erase(ctx context.Context, server string) (bool, error) {
	srv, err := ParseServer(server)
	if err != nil {
		return false, err
	}
	cf, err := s.load()
	if err != nil {
		return false, err
	}
	_, inFile := fileEntry(cf, srv)
	found := inFile
	if h := helperFor(cf, srv.Key); h != "" {
		_, inHelper, err := helperGet(ctx, h, srv.Key)
		if err != nil {
			return false, err
		}
		if inHelper {
			found = true
			if err := helperErase(ctx, h, srv.Key); err != nil {
				return false, err
			}
		}
	}
	if inFile {
		for _, k := range fileKeys(srv) {
			delete(cf.AuthConfigs, k)
		}
		if err := cf.Save(); err != nil {
			return false, fmt.Errorf("removing the login of %s from %s: %w", srv.Host, cf.Filename, err)
		}
	}
	return found, nil
}

// Authenticator returns l as go-containerregistry's authn.Authenticator.
func (l Login) Authenticator() authn.Authenticator {
	return authn.FromConfig(authn.AuthConfig{Username: l.User, Password: l.Password,
		IdentityToken: l.IdentityToken, RegistryToken: l.RegistryToken})
}
