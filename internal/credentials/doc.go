// Package credentials is where registry logins live: docker's config.json (and the
// credential helpers it names), read and written so that docker, crane and berth share
// one set of logins, and how `docker login` names a registry ([ParseServer]).
//
// The CLI hands [Store.Keychain] to pull, push and run --pull (registry.Options);
// `berth login`/`logout` check a login with registry.Client.CheckLogin and keep it with
// [Store.Save] and [Store.Erase]. Reaching a registry (TLS, plain HTTP, retries, the
// login check) is package registry's, which imports this one; this one imports no
// network code of berth's.
//
// # Notes
//
//   - The file is docker's: $DOCKER_CONFIG/config.json, else ~/.docker/config.json
//     ([Dir]). It is loaded and saved with github.com/docker/cli's configfile package, so
//     the `auths` map (base64 `auth` of user:password), the other keys docker keeps there,
//     mode 0600 and the atomic rename are docker's own code.
//   - Credential helpers (`credsStore`, `credHelpers`: docker-credential-NAME on PATH) are
//     run here, with docker-credential-helpers' message types, not through docker/cli's
//     store: that one sends the helper's stderr to the process's stderr and returns an
//     error that no longer names the helper. [HelperError] keeps both.
//   - As docker does, a login stored through a helper leaves an empty entry under `auths`
//     (docker reads the entry to know it is logged in); the secret stays in the helper.
//   - Writing to the file, berth does not go through docker/cli's file store: its Store
//     prints docker's "stored unencrypted" warning to os.Stderr itself. The CLI prints it.
//   - berth never picks a helper on its own. docker, on a first login with an empty
//     config, may choose docker-credential-pass or -secretservice when found on PATH; berth
//     uses exactly what config.json names. DOCKER_AUTH_CONFIG is not read.
//   - Docker Hub is stored under "https://index.docker.io/v1/", the key docker (and crane)
//     write; "docker.io", "index.docker.io" and "registry-1.docker.io" all name it
//     ([ParseServer]).
//   - authn.DefaultKeychain of go-containerregistry is not used: it reads the process's
//     environment (not the directory the caller chose), falls back to podman's auth.json
//     when docker's file is missing, does not know registry-1.docker.io, and reports a
//     failing helper without its name. [Store.Keychain] is the same lookup with those
//     differences.
package credentials
