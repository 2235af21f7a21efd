package credentials

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	helpers "github.com/docker/docker-credential-helpers/credentials"
)

// helperPrefix begins the program name of every credential helper.
const helperPrefix = "docker-credential-"

// tokenUser is the user name with which helpers store an identity token.
const tokenUser = "<token>"

// HelperError is a credential helper that failed.
type HelperError struct {
	// Helper is the program, e.g. "docker-credential-pass".
	Helper string
	// Action is the helper's command: "get", "store" or "erase".
	Action string
	// Server is the key the helper was asked about.
	Server string
	// Output is what the helper printed: the protocol puts its error on stdout, some
	// helpers use stderr; both are kept, trimmed.
	Output string
	// Err is the underlying failure: the exit status, exec.ErrNotFound, a bad answer.
	Err error
}

func (e *HelperError) Error() string {
	if errors.Is(e.Err, exec.ErrNotFound) {
		return fmt.Sprintf("credential helper %s is not on PATH (config.json's credsStore or credHelpers names it): install it, or remove it from config.json",
			e.Helper)
	}
	msg := fmt.Sprintf("credential helper %s failed to %s the login of %s: %v", e.Helper, e.Action, e.Server, e.Err)
	if e.Output != "" {
		msg += ": " + e.Output
	}
	return msg
}

func (e *HelperError) Unwrap() error { return e.Err }

// runHelper runs docker-credential-NAME ACTION with input on stdin and returns stdout.
func runHelper(ctx context.Context, name, action, server string, input []byte) ([]byte, error) {
	prog := helperPrefix + name
	herr := func(out string, err error) *HelperError {
		return &HelperError{Helper: prog, Action: action, Server: server, Output: strings.TrimSpace(out), Err: err}
	}
	if name == "" || strings.ContainsAny(name, "/\\") {
		return nil, herr("", fmt.Errorf("%q is not a helper name (config.json names helpers by the NAME of docker-credential-NAME)", name))
	}
	cmd := exec.CommandContext(ctx, prog, action)
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		out := strings.TrimSpace(stdout.String())
		if e := strings.TrimSpace(stderr.String()); e != "" {
			if out != "" {
				out += "; "
			}
			out += e
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", err, ctx.Err())
		}
		return stdout.Bytes(), herr(out, err)
	}
	return stdout.Bytes(), nil
}

func helperGet(ctx context.Context, name, server string) (Login, bool, error) {
	out, err := runHelper(ctx, name, helpers.ActionGet, server, []byte(server))
	if err != nil {
		if helpers.IsErrCredentialsNotFoundMessage(string(out)) {
			return Login{}, false, nil
		}
		return Login{}, false, err
	}
	var c helpers.Credentials
	if err := json.Unmarshal(out, &c); err != nil {
		return Login{}, false, &HelperError{Helper: helperPrefix + name, Action: helpers.ActionGet, Server: server,
			Err: fmt.Errorf("its answer is not the protocol's JSON: %w", err)}
	}
	if c.Username == "" && c.Secret == "" {
		return Login{}, false, nil
	}
	if c.Username == tokenUser {
		return Login{IdentityToken: c.Secret}, true, nil
	}
	return Login{User: c.Username, Password: c.Secret}, true, nil
}

func helperStore(ctx context.Context, name, server string, l Login) error {
	c := helpers.Credentials{ServerURL: server, Username: l.User, Secret: l.Password}
	if l.IdentityToken != "" {
		c.Username, c.Secret = tokenUser, l.IdentityToken
	}
	in, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = runHelper(ctx, name, helpers.ActionStore, server, in)
	return err
}

func helperErase(ctx context.Context, name, server string) error {
	_, err := runHelper(ctx, name, helpers.ActionErase, server, []byte(server))
	return err
}
