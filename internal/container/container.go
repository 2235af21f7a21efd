// Package container keeps berth's container records on disk: one directory per
// container holding its OCI bundle (config.json, rootfs/) and its record
// (container.json), with names that are unique and ids that accept unique prefixes,
// as in Docker.
//
// # Notes
//
//   - Records are JSON files replaced atomically (internal/fsutil), and every change that
//     must see all records at once (a new name, a rename, a removal) holds an exclusive
//     flock on DIR/lock, so several berth processes can create and remove containers
//     concurrently without a daemon. Reads take no lock: atomic replacement means a
//     reader sees a whole record, old or new.
//   - The lock is held only for the bookkeeping, never while a container runs.
//   - Names are reserved by creating DIR/names/NAME (holding the id) with O_EXCL, which is
//     atomic across processes, so creating a container or finding one by name reads one
//     small file, however many containers exist. A name file whose container record is
//     gone (a crash between the two writes) is stale and may be taken over.
package container

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/berth-dev/berth/internal/fsutil"
)

// Status words, as Docker uses them.
const (
	StatusCreated = "created"
	StatusRunning = "running"
	StatusExited  = "exited"
)

var (
	// ErrNotFound is returned (wrapped) when no container matches a name or id.
	ErrNotFound = errors.New("no such container")
	// ErrAmbiguous is returned (wrapped) when an id prefix matches several containers.
	ErrAmbiguous = errors.New("ambiguous container id")
	// ErrNameInUse is returned (wrapped) when a name is already taken.
	ErrNameInUse = errors.New("container name already in use")
	// ErrInvalidName is returned (wrapped) for a name Docker would refuse.
	ErrInvalidName = errors.New("invalid container name")
	// ErrCorrupt is returned (wrapped) for a container record that cannot be read.
	ErrCorrupt = errors.New("container record is corrupt")
)

// State is the lifecycle state of a container, in Docker's shape.
type State struct {
	Status     string
	Running    bool
	Pid        int
	ExitCode   int
	Error      string    `json:",omitempty"`
	StartedAt  time.Time `json:",omitzero"`
	FinishedAt time.Time `json:",omitzero"`
}

// HostConfig holds the flags of `berth run` that are not part of the process.
type HostConfig struct {
	AutoRemove bool
	Binds      []string `json:",omitempty"`
	Memory     int64    `json:",omitempty"`
}

// Container is the record of one container.
type Container struct {
	ID          string
	Name        string
	Image       string // as the user named it
	ImageDigest string `json:",omitempty"` // manifest digest, "" for a local .wasm file
	Created     time.Time
	Path        string   // the module, inside the container
	Args        []string // arguments after the module
	Env         []string `json:",omitempty"`
	WorkingDir  string
	HostConfig  HostConfig
	State       State
}

// Store is a directory of container records.
type Store struct {
	dir string
}

// Open opens (creating if needed) the container directory dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, fmt.Errorf("opening container store: %w", err)
	}
	return &Store{dir: dir}, nil
}

// Dir is the directory of container id: its OCI bundle.
func (s *Store) Dir(id string) string { return filepath.Join(s.dir, id) }

func (s *Store) lock(ctx context.Context) (func(), error) {
	l := flock.New(filepath.Join(s.dir, "lock"))
	ok, err := l.TryLockContext(ctx, 5*time.Millisecond)
	if err != nil || !ok {
		return nil, fmt.Errorf("locking %s: %w", s.dir, errors.Join(err, ctx.Err()))
	}
	return func() { _ = l.Unlock() }, nil
}

// validName is compiled on first use: a package-level regexp costs every berth
// process its compile time at start-up, which `run` of a small module feels.
var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$`) })

// NewID returns a new random 64-hex-digit container id.
func NewID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Create records c, giving it an id and (when c.Name is empty) a generated name, and
// creates its directory. durable false skips fsyncs, for containers removed when they exit.
func (s *Store) Create(ctx context.Context, c *Container, durable bool) error {
	if c.Name != "" && !validName().MatchString(c.Name) {
		return fmt.Errorf("%w %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", ErrInvalidName, c.Name)
	}
	c.Name = strings.TrimPrefix(c.Name, "/")
	if c.ID == "" {
		c.ID = NewID()
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if c.Name != "" {
		if err := s.reserve(c.Name, c.ID); err != nil {
			return err
		}
	} else {
		for i := 0; ; i++ {
			c.Name = generateName(i > 20)
			err := s.reserve(c.Name, c.ID)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrNameInUse) || i > 100 {
				return err
			}
		}
	}
	if c.Created.IsZero() {
		c.Created = time.Now().UTC()
	}
	if c.State.Status == "" {
		c.State.Status = StatusCreated
	}
	undo := func(err error) error {
		s.release(c.Name, c.ID)
		return err
	}
	if err := os.Mkdir(s.Dir(c.ID), 0o711); err != nil {
		return undo(fmt.Errorf("creating container %s: %w", c.Name, err))
	}
	if err := s.write(c, durable); err != nil {
		os.RemoveAll(s.Dir(c.ID))
		return undo(err)
	}
	return nil
}

func (s *Store) namePath(name string) string { return filepath.Join(s.dir, "names", name) }

// reserve takes name for id, or returns ErrNameInUse naming the container that has it.
// Callers hold the lock, which makes taking over a stale name safe.
func (s *Store) reserve(name, id string) error {
	for attempt := 0; attempt < 2; attempt++ {
		f, err := os.OpenFile(s.namePath(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, err = f.WriteString(id)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(s.namePath(name))
				return fmt.Errorf("reserving the name %q: %w", name, err)
			}
			return nil
		}
		if errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(s.namePath(name)), 0o711); err != nil {
				return err
			}
			continue
		}
		if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("reserving the name %q: %w", name, err)
		}
		owner, ok := s.nameOwner(name)
		if ok {
			return fmt.Errorf("%w: the name %q is used by container %s; remove it (berth rm %s) or choose another --name", ErrNameInUse, name, short(owner), name)
		}
		os.Remove(s.namePath(name)) // stale: its container record is gone
	}
	return fmt.Errorf("%w: %q", ErrNameInUse, name)
}

// nameOwner returns the id holding name, and whether that container still exists.
func (s *Store) nameOwner(name string) (string, bool) {
	b, err := os.ReadFile(s.namePath(name))
	if err != nil {
		return "", false
	}
	id := string(b)
	if _, err := os.Stat(filepath.Join(s.Dir(id), "container.json")); err != nil {
		return id, false
	}
	return id, true
}

// release frees name if id holds it.
func (s *Store) release(name, id string) {
	if owner, _ := s.nameOwner(name); owner == id {
		os.Remove(s.namePath(name))
	}
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func (s *Store) write(c *Container, durable bool) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(s.Dir(c.ID), "container.json"), b, 0o600, durable)
}

// Update applies fn to the record of container id and writes it back.
func (s *Store) Update(ctx context.Context, id string, durable bool, fn func(*Container) error) error {
	c, err := s.read(id)
	if err != nil {
		return err
	}
	if err := fn(c); err != nil {
		return err
	}
	return s.write(c, durable)
}

func (s *Store) read(id string) (*Container, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir(id), "container.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	var c Container
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: %s: %v; remove the container with berth rm -f %s", ErrCorrupt, filepath.Join(s.Dir(id), "container.json"), err, id)
	}
	return &c, nil
}

// Get finds a container by exact name, exact id or unique id prefix.
func (s *Store) Get(ctx context.Context, ref string) (*Container, error) {
	ref = strings.TrimPrefix(ref, "/")
	if ref == "" {
		return nil, fmt.Errorf("%w: empty name", ErrNotFound)
	}
	if validName().MatchString(ref) && !strings.Contains(ref, "/") {
		if id, ok := s.nameOwner(ref); ok {
			return s.read(id)
		}
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	var matches []string
	for _, e := range ents {
		if e.IsDir() && e.Name() != "names" && strings.HasPrefix(e.Name(), ref) {
			if e.Name() == ref {
				matches = []string{ref}
				break
			}
			matches = append(matches, e.Name())
		}
	}
	var found []*Container
	var corrupt error
	for _, id := range matches {
		c, err := s.read(id)
		switch {
		case err == nil:
			found = append(found, c)
		case errors.Is(err, ErrCorrupt):
			corrupt = err
		}
	}
	switch len(found) {
	case 0:
		if corrupt != nil {
			return nil, corrupt
		}
		return nil, fmt.Errorf("%w: %s (berth ps -a lists the containers)", ErrNotFound, ref)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("%w: %q matches %d containers; give more of the id", ErrAmbiguous, ref, len(found))
}

// List returns every container, newest first. Records that cannot be read are left
// out and reported in the error (wrapping ErrCorrupt), with the readable ones returned.
func (s *Store) List(ctx context.Context) ([]*Container, error) { return s.list() }

func (s *Store) list() ([]*Container, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	var out []*Container
	var bad []error
	for _, e := range ents {
		if !e.IsDir() || e.Name() == "names" {
			continue
		}
		c, err := s.read(e.Name())
		if errors.Is(err, ErrNotFound) {
			continue // being created or removed
		}
		if err != nil {
			bad = append(bad, err)
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, errors.Join(bad...)
}

// Remove deletes the container's record and directory.
func (s *Store) Remove(ctx context.Context, id string) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	c, _ := s.read(id)
	// Drop the record first: a half-removed directory is then invisible, not corrupt.
	if err := os.Remove(filepath.Join(s.Dir(id), "container.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing container %s: %w", id, err)
	}
	if c != nil {
		s.release(c.Name, id)
	}
	if err := os.RemoveAll(s.Dir(id)); err != nil {
		return fmt.Errorf("removing container %s: %w", id, err)
	}
	return nil
}

var (
	adjectives = []string{"amber", "brave", "calm", "deft", "eager", "fair", "gentle", "hardy", "keen", "lively", "merry", "nimble", "quiet", "rapid", "steady", "swift", "tidy", "vivid", "warm", "zesty"}
	nouns      = []string{"anchor", "buoy", "cove", "dock", "estuary", "ferry", "galley", "harbor", "inlet", "jetty", "keel", "lagoon", "mooring", "pier", "quay", "rudder", "schooner", "tug", "wharf", "yawl"}
)

func generateName(withSuffix bool) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	n := adjectives[int(b[0])%len(adjectives)] + "_" + nouns[int(b[1])%len(nouns)]
	if withSuffix {
		n += fmt.Sprintf("%d", b[2])
	}
	return n
}
