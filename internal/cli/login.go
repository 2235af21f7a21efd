//go:build !berth_core

package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/berth-dev/berth/internal/credentials"
	"github.com/berth-dev/berth/internal/registry"
)

// logins returns the store of docker's configuration directory ($DOCKER_CONFIG, else
// ~/.docker), as this invocation's environment names it.
func (a *App) logins() *credentials.Store { return credentials.New(credentials.Dir(a.Getenv)) }

// ErrNoTTY is a login that needs a prompt without a terminal to prompt on.
var ErrNoTTY = errors.New("cannot perform an interactive login from a non TTY device: give -u USER and --password-stdin")

func (a *App) loginCmd() *cobra.Command {
	var (
		user, password string
		passwordStdin  bool
		insecure       []string
	)
	c := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Log in to a registry (Docker Hub when no SERVER is given)",
		Long: `Log in to a registry (Docker Hub when no SERVER is given).

The user name and password are checked against the registry, then kept where docker
keeps them, so docker, crane and berth share logins: in the credential helper that
config.json names (credsStore, credHelpers), else in config.json itself, in
$DOCKER_CONFIG, else ~/.docker. Without -u, a login already kept for SERVER is checked
and used again. Plain HTTP and TLS without a verified certificate are used only for
loopback registries and those given to --insecure-registry or $` + InsecureEnv + `.`,
		Args: maxArgs(1, "[SERVER]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			srv, err := serverArg(args)
			if err != nil {
				return err
			}
			ro, err := a.registryOptions(insecure)
			if err != nil {
				return err
			}
			pwSet := cmd.Flags().Changed("password")
			if pwSet && passwordStdin {
				return errors.New("--password and --password-stdin are mutually exclusive")
			}
			if passwordStdin {
				if user == "" {
					return errors.New("must provide --username with --password-stdin")
				}
				b, err := io.ReadAll(a.Stdin)
				if err != nil {
					return fmt.Errorf("reading the password from stdin: %w", err)
				}
				password = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
				pwSet = true
			} else if pwSet {
				fmt.Fprintln(a.Stderr, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
			}
			ctx := cmd.Context()
			reg := registry.New(ro)
			store := a.logins()
			if user == "" && !pwSet {
				done, err := a.loginAgain(ctx, store, reg, srv)
				if done || err != nil {
					return err
				}
			}
			l, err := a.promptLogin(ctx, store, srv, strings.TrimSpace(user), password, pwSet)
			if err != nil {
				return err
			}
			if err := reg.CheckLogin(ctx, srv.Key, l); err != nil {
				return err
			}
			where, err := store.Save(ctx, srv.Key, l)
			if err != nil {
				return err
			}
			if where == store.Path() {
				fmt.Fprintf(a.Stderr, "WARNING! Your credentials are stored unencrypted in '%s'.\n"+
					"Configure a credential helper (credsStore in that file) to remove this warning.\n", where)
			}
			fmt.Fprintln(a.Stdout, "Login Succeeded")
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&user, "username", "u", "", "user name")
	f.StringVarP(&password, "password", "p", "", "password or token (insecure: it shows in the process list; use --password-stdin)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password or token from stdin")
	insecureFlag(f, &insecure)
	return c
}

// loginAgain checks the login kept for srv, as docker does when login is given no user:
// done is true when it works.
func (a *App) loginAgain(ctx context.Context, store *credentials.Store, reg *registry.Client, srv credentials.Server) (done bool, err error) {
	l, ok, err := store.Get(ctx, srv.Key)
	if err != nil || !ok {
		return false, err
	}
	if l.User != "" {
		fmt.Fprintf(a.Stdout, "Authenticating with existing credentials... [Username: %s]\n", l.User)
	} else {
		fmt.Fprintln(a.Stdout, "Authenticating with existing credentials...")
	}
	if err := reg.CheckLogin(ctx, srv.Key, l); err != nil {
		if _, tty := a.terminal(); !tty {
			return false, err
		}
		fmt.Fprintf(a.Stderr, "Login did not succeed, error: %v\n", err)
		return false, nil
	}
	fmt.Fprintln(a.Stdout, "Login Succeeded")
	return true, nil
}

// terminal returns the file descriptor of stdin, and whether it is a terminal.
func (a *App) terminal() (int, bool) {
	f, ok := a.Stdin.(*os.File)
	if !ok {
		return -1, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// promptLogin asks on the terminal for what the flags did not give: the user name (the
// kept one is the default) and the password, without echo.
func (a *App) promptLogin(ctx context.Context, store *credentials.Store, srv credentials.Server, user, password string, pwSet bool) (credentials.Login, error) {
	if user != "" && pwSet {
		return credentials.Login{User: user, Password: password}, nil
	}
	fd, tty := a.terminal()
	if !tty {
		return credentials.Login{}, ErrNoTTY
	}
	if user == "" {
		def := ""
		if l, ok, err := store.Get(ctx, srv.Key); err == nil && ok {
			def = l.User
		}
		if srv.Hub() {
			fmt.Fprintln(a.Stdout, "Log in with your Docker ID or email address to push and pull images from Docker Hub.")
		}
		if def != "" {
			fmt.Fprintf(a.Stdout, "Username (%s): ", def)
		} else {
			fmt.Fprint(a.Stdout, "Username: ")
		}
		line, err := bufio.NewReader(a.Stdin).ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return credentials.Login{}, fmt.Errorf("reading the user name: %w", err)
		}
		if user = strings.TrimSpace(line); user == "" {
			user = def
		}
		if user == "" {
			return credentials.Login{}, errors.New("a user name is required")
		}
	}
	if !pwSet {
		fmt.Fprint(a.Stdout, "Password: ")
		b, err := readPassword(fd)
		fmt.Fprintln(a.Stdout)
		if err != nil {
			return credentials.Login{}, err
		}
		if password = string(b); password == "" {
			return credentials.Login{}, errors.New("a password is required")
		}
	}
	return credentials.Login{User: user, Password: password}, nil
}

// readPassword reads a line from the terminal fd without echo. Interrupted (Ctrl-C, or
// SIGTERM), it puts the terminal back before berth exits, as docker does: otherwise the
// shell would be left without echo.
func readPassword(fd int) ([]byte, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return nil, fmt.Errorf("reading the password: %w", err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := term.ReadPassword(fd)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("reading the password: %w", r.err)
		}
		return r.b, nil
	case s := <-sigs:
		// The reading goroutine stays blocked until berth exits, which it does now.
		_ = term.Restore(fd, state)
		code := 130
		if s == syscall.SIGTERM {
			code = 143
		}
		return nil, &codeError{code: code, err: fmt.Errorf("login interrupted (%v)", s)}
	}
}

func (a *App) logoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry (Docker Hub when no SERVER is given)",
		Long: `Log out from a registry (Docker Hub when no SERVER is given): remove its login from
config.json and from the credential helper that file names for it.`,
		Args: maxArgs(1, "[SERVER]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			srv, err := serverArg(args)
			if err != nil {
				return err
			}
			found, err := a.logins().Erase(cmd.Context(), srv.Key)
			if err != nil {
				return err
			}
			if !found {
				fmt.Fprintf(a.Stdout, "Not logged in to %s\n", srv.Key)
				return nil
			}
			fmt.Fprintf(a.Stdout, "Removing login credentials for %s\n", srv.Key)
			return nil
		},
	}
}

// serverArg is the registry login and logout name: Docker Hub when args is empty.
func serverArg(args []string) (credentials.Server, error) {
	server := ""
	if len(args) == 1 {
		server = args[0]
	}
	return credentials.ParseServer(server)
}

func maxArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return fmt.Errorf("%q accepts at most %d argument(s): %s\nSee '%s --help'.", cmd.CommandPath(), n, names, cmd.CommandPath())
		}
		return nil
	}
}
