// Package container keeps berth's container records on disk: one directory per
// container holding its OCI bundle (config.json, rootfs/) and its record
// (container.json), with names that are unique and ids that accept unique prefixes,
// as in Docker.
//
// Records live in two places: DIR, for containers that outlive the process that ran
// them, and STATE, for containers removed when they exit (`run --rm`), which nothing
// needs after a reboot, so STATE can be on a tmpfs such as /run (see docs/rationale.md,
// "A state directory for --rm containers"). Both places are read together: a container
// is found, listed and removed wherever it is.
//
// # Notes
//
//   - Records are JSON files replaced atomically (internal/fsutil), and every change that
//     must see all records at once (a new name, a rename, a removal) holds an exclusive
//     flock on DIR/lock, so several berth processes can create and remove containers
//     concurrently without a daemon. Reads take no lock: atomic replacement means a
//     reader sees a whole record, old or new.
//   - The lock is held only for the bookkeeping, never while a container runs.
//   - Each container also has a lock of its own (Store.Lock, a flock on its directory),
//     which the commands that change what runs hold (start, stop, kill, rm, rename,
//     recording an exit; run -d from creating the record until its shim runs, through
//     CreateLocked): without a daemon, two berth processes acting on one container at
//     once would otherwise start two shims for it, or start one in a directory being
//     removed.
//   - Names are reserved by creating PLACE/names/NAME (holding the id) with O_EXCL, in
//     the place the container's record goes to, which is atomic across processes, so
//     creating a container or finding one by name reads one small file, however many
//     containers exist. The other place is checked under the same lock, so a name is
//     unique across both. A name file whose container record is gone (a crash between
//     the two writes, or a reboot that emptied STATE) is stale and may be taken over.
//   - Directories are made when a write finds them missing, not when the store is
//     opened: opening costs no system call, and a STATE on a tmpfs comes back by itself
//     after a reboot.
package container

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofrs/flock"

	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/jsonlite"
)

// Status words, as Docker uses them.
const (
	StatusCreated = "created"
	StatusRunning = "running"
	StatusExited  = "exited"
	// StatusRestarting is shown, never stored, while a detached container's shim waits
	// out a back-off of its restart policy.
	StatusRestarting = "restarting"
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
	Status  string
	Running bool
	// Restarting is set, with Running, while the shim of a detached container waits
	// out a back-off of its restart policy (docker's State.Restarting); never stored.
	Restarting bool `json:",omitempty"`
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
	// NetworkMode is `--network` (default, host, none); "" for a container made before
	// berth had networking, which ran with no policy.
	NetworkMode string `json:",omitempty"`
	// PublishedPorts are the published ports (-p, -P) with their host ports chosen, in
	// `-p` syntax (network.PortMapping.String): "127.0.0.1:18080:8080/tcp".
	PublishedPorts []string `json:",omitempty"`
	// LogConfig is the log driver of a detached container (docker's shape).
	LogConfig *LogConfig `json:",omitempty"`
	// RestartPolicy is the --restart of a detached container (docker's shape), carried
	// out by its shim; nil is "no".
	RestartPolicy *RestartPolicy `json:",omitempty"`
}

// RestartPolicy is a restart policy as docker records it: "no", "on-failure" (with
// MaximumRetryCount, 0 for no limit), "always" or "unless-stopped".
type RestartPolicy struct {
	Name              string
	MaximumRetryCount int `json:",omitempty"`
}

// LogConfig is a log driver and its options (--log-opt), as docker records them.
type LogConfig struct {
	Type   string            // "json-file"
	Config map[string]string `json:",omitempty"`
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
	// Detached is set for a container run by a containerd-shim-berth-v1 (`run -d`): its
	// state is the shim's, asked through the task API, not that of a berth process.
	Detached bool `json:",omitempty"`
	// LogPath is the json-file log of a detached container (docker's LogPath).
	LogPath string `json:",omitempty"`
	// RestartCount is how many times the restart policy restarted the container since it
	// was last started by run or start (docker's RestartCount).
	RestartCount int `json:",omitempty"`
	HostConfig   HostConfig
	State        State

	dir string // where the Store found or made the record: its bundle directory
}

// marshal encodes c as json.MarshalIndent(c, "", "  ") does, field for field (the tests
// compare the two), without the encoder encoding/json would build by reflection on its
// first use in the process: ~0.5 ms of every `berth run`.
func (c *Container) marshal() ([]byte, error) {
	created, err := c.Created.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encoding container %s: %w", c.ID, err)
	}
	var times [2][]byte
	for i, t := range []time.Time{c.State.StartedAt, c.State.FinishedAt} {
		if !t.IsZero() {
			if times[i], err = t.MarshalJSON(); err != nil {
				return nil, fmt.Errorf("encoding container %s: %w", c.ID, err)
			}
		}
	}
	var w jsonlite.Writer
	w.Object(func() {
		w.Key("ID")
		w.String(c.ID)
		w.Key("Name")
		w.String(c.Name)
		w.Key("Image")
		w.String(c.Image)
		if c.ImageDigest != "" {
			w.Key("ImageDigest")
			w.String(c.ImageDigest)
		}
		w.Key("Created")
		w.Raw(created)
		w.Key("Path")
		w.String(c.Path)
		w.Key("Args")
		w.Strings(c.Args)
		if len(c.Env) > 0 {
			w.Key("Env")
			w.Strings(c.Env)
		}
		w.Key("WorkingDir")
		w.String(c.WorkingDir)
		if c.Detached {
			w.Key("Detached")
			w.Bool(true)
		}
		if c.LogPath != "" {
			w.Key("LogPath")
			w.String(c.LogPath)
		}
		if c.RestartCount != 0 {
			w.Key("RestartCount")
			w.Int(int64(c.RestartCount))
		}
		w.Key("HostConfig")
		w.Object(func() {
			h := c.HostConfig
			w.Key("AutoRemove")
			w.Bool(h.AutoRemove)
			if len(h.Binds) > 0 {
				w.Key("Binds")
				w.Strings(h.Binds)
			}
			if h.Memory != 0 {
				w.Key("Memory")
				w.Int(h.Memory)
			}
			if h.NetworkMode != "" {
				w.Key("NetworkMode")
				w.String(h.NetworkMode)
			}
			if len(h.PublishedPorts) > 0 {
				w.Key("PublishedPorts")
				w.Strings(h.PublishedPorts)
			}
			if h.LogConfig != nil {
				w.Key("LogConfig")
				w.Object(func() {
					w.Key("Type")
					w.String(h.LogConfig.Type)
					if len(h.LogConfig.Config) > 0 {
						w.Key("Config")
						w.StringMap(h.LogConfig.Config)
					}
				})
			}
			if h.RestartPolicy != nil {
				w.Key("RestartPolicy")
				w.Object(func() {
					w.Key("Name")
					w.String(h.RestartPolicy.Name)
					if h.RestartPolicy.MaximumRetryCount != 0 {
						w.Key("MaximumRetryCount")
						w.Int(int64(h.RestartPolicy.MaximumRetryCount))
					}
				})
			}
		})
		w.Key("State")
		w.Object(func() {
			st := c.State
			w.Key("Status")
			w.String(st.Status)
			w.Key("Running")
			w.Bool(st.Running)
			if st.Restarting {
				w.Key("Restarting")
				w.Bool(true)
			}
			w.Key("Pid")
			w.Int(int64(st.Pid))
			w.Key("ExitCode")
			w.Int(int64(st.ExitCode))
			if st.Error != "" {
				w.Key("Error")
				w.String(st.Error)
			}
			if times[0] != nil {
				w.Key("StartedAt")
				w.Raw(times[0])
			}
			if times[1] != nil {
				w.Key("FinishedAt")
				w.Raw(times[1])
			}
		})
	})
	return w.Bytes(), nil
}

// Store is berth's container records: those that outlive their process in one
// directory, those removed when they exit (HostConfig.AutoRemove) in another.
type Store struct {
	dir   string // DIR: records that outlive their process; DIR/lock orders all name changes
	state string // STATE: records of AutoRemove containers; the same as dir when none is given
}

// Open opens the container directory dir, with the records of AutoRemove containers
// in state ("" keeps them in dir too). Nothing is read or made until it is needed.
func Open(dir, state string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("opening container store: no directory given")
	}
	if state == "" {
		state = dir
	}
	return &Store{dir: filepath.Clean(dir), state: filepath.Clean(state)}, nil
}

// places are the directories records live in, DIR first.
func (s *Store) places() []string {
	if s.state == s.dir {
		return []string{s.dir}
	}
	return []string{s.dir, s.state}
}

// placeOf is the directory a new record of c goes to.
func (s *Store) placeOf(c *Container) string {
	if c.HostConfig.AutoRemove {
		return s.state
	}
	return s.dir
}

// Dir is the directory of container c: its OCI bundle. For a record the Store read
// or created it is where the record is; otherwise where Create puts it.
func (s *Store) Dir(c *Container) string {
	if c.dir != "" {
		return c.dir
	}
	return filepath.Join(s.placeOf(c), c.ID)
}

func (s *Store) lock(ctx context.Context) (func(), error) {
	l := flock.New(filepath.Join(s.dir, "lock"))
	ok, err := l.TryLockContext(ctx, 5*time.Millisecond)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(s.dir, 0o711); err == nil {
			ok, err = l.TryLockContext(ctx, 5*time.Millisecond)
		}
	}
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
// creates its directory, in STATE when c.HostConfig.AutoRemove is set and in DIR
// otherwise. durable false skips fsyncs, for containers removed when they exit.
func (s *Store) Create(ctx context.Context, c *Container, durable bool) error {
	_, err := s.create(ctx, c, durable, false)
	return err
}

// create is Create, and CreateLocked with lock set: it then returns the function that
// releases the new container's lock.
func (s *Store) create(ctx context.Context, c *Container, durable, lock bool) (unlockContainer func(), err error) {
	if c.Name != "" && !validName().MatchString(c.Name) {
		return nil, fmt.Errorf("%w %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", ErrInvalidName, c.Name)
	}
	c.Name = strings.TrimPrefix(c.Name, "/")
	if c.ID == "" {
		c.ID = NewID()
	}
	place := s.placeOf(c)
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if c.Name != "" {
		if err := s.reserve(place, c.Name, c.ID); err != nil {
			return nil, err
		}
	} else {
		for i := 0; ; i++ {
			c.Name = generateName(i > 20)
			err := s.reserve(place, c.Name, c.ID)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrNameInUse) || i > 100 {
				return nil, err
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
		s.release(place, c.Name, c.ID)
		return err
	}
	dir := filepath.Join(place, c.ID)
	if err := os.Mkdir(dir, 0o711); err != nil { // place exists: reserve made place/names
		return nil, undo(fmt.Errorf("creating container %s: %w", c.Name, err))
	}
	unlockContainer = func() {}
	if lock {
		// No other process knows of the container before its record exists.
		if unlockContainer, err = lockDir(ctx, dir, c.Name, false); err != nil {
			os.RemoveAll(dir)
			return nil, undo(err)
		}
	}
	c.dir = dir
	if err := s.write(c, durable); err != nil {
		c.dir = ""
		unlockContainer()
		os.RemoveAll(dir)
		return nil, undo(err)
	}
	return unlockContainer, nil
}

func namePath(place, name string) string { return filepath.Join(place, "names", name) }

// reserve takes name for id in place, or returns ErrNameInUse naming the container that
// has it there or in the other place. Callers hold the lock, which makes taking over a
// stale name safe.
func (s *Store) reserve(place, name, id string) error {
	p := namePath(place, name)
	for attempt := 0; ; attempt++ {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, err = f.WriteString(id)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(p)
				return fmt.Errorf("reserving the name %q: %w", name, err)
			}
			break
		}
		if attempt > 2 {
			return fmt.Errorf("%w: %q", ErrNameInUse, name)
		}
		if errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(p), 0o711); err != nil {
				return fmt.Errorf("reserving the name %q: %w", name, err)
			}
			continue
		}
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("reserving the name %q: %w", name, err)
		}
		if owner, ok := nameOwner(place, name); ok {
			return nameInUse(name, owner)
		}
		os.Remove(p) // stale: its container record is gone
	}
	for _, other := range s.places() {
		if other == place {
			continue
		}
		if owner, ok := nameOwner(other, name); ok {
			os.Remove(p)
			return nameInUse(name, owner)
		} else if owner != "" {
			os.Remove(namePath(other, name)) // stale
		}
	}
	return nil
}

func nameInUse(name, owner string) error {
	// Docker's wording, with berth's commands.
	return fmt.Errorf("%w: the container name \"/%s\" is already in use by container \"%s\"; remove (berth rm %s) or rename that container to reuse the name, or choose another --name",
		ErrNameInUse, name, owner, short(owner))
}

// nameOwner returns the id holding name in place ("" when none does), and whether that
// container still exists.
func nameOwner(place, name string) (string, bool) {
	b, err := os.ReadFile(namePath(place, name))
	if err != nil {
		return "", false
	}
	id := string(b)
	if _, err := os.Stat(filepath.Join(place, id, "container.json")); err != nil {
		return id, false
	}
	return id, true
}

// release frees name in place if id holds it.
func (s *Store) release(place, name, id string) {
	if owner, _ := nameOwner(place, name); owner == id {
		os.Remove(namePath(place, name))
	}
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func (s *Store) write(c *Container, durable bool) error {
	b, err := c.marshal()
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(s.Dir(c), "container.json"), b, 0o600, durable)
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

// Rename gives container ref (a name, id or id prefix) the name name, as `docker rename`:
// the new name is reserved before the record changes and the old one freed after, all
// under the lock, so the container is never without a name and no other can take either.
func (s *Store) Rename(ctx context.Context, ref, name string) (*Container, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	name = strings.TrimPrefix(name, "/")
	c, err := s.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if c.Name == name {
		return nil, fmt.Errorf("%w: container %s is already named %q", ErrNameInUse, short(c.ID), name)
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	place := filepath.Dir(s.Dir(c))
	id := c.ID
	if err := s.reserve(place, name, id); err != nil {
		return nil, err
	}
	// Read again under the lock: another process may have renamed or removed it.
	c, err = readIn(place, id)
	var old string
	if err == nil {
		old, c.Name = c.Name, name
		err = s.write(c, true)
	}
	if err != nil {
		s.release(place, name, id)
		return nil, err
	}
	s.release(place, old, id)
	return c, nil
}

// CheckName returns ErrInvalidName (wrapped) for a name Docker would refuse.
func CheckName(name string) error {
	if name == "" || !validName().MatchString(name) {
		return fmt.Errorf("%w %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", ErrInvalidName, name)
	}
	return nil
}

// read reads the record of id from whichever place holds it.
func (s *Store) read(id string) (*Container, error) {
	for _, place := range s.places() {
		c, err := readIn(place, id)
		if !errors.Is(err, ErrNotFound) {
			return c, err
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
}

func readIn(place, id string) (*Container, error) {
	p := filepath.Join(place, id, "container.json")
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	var c Container
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: %s: %v; remove the container with berth rm -f %s", ErrCorrupt, p, err, id)
	}
	c.dir = filepath.Join(place, id)
	return &c, nil
}

// ids lists the container directories of every place (a place not made yet has none).
func (s *Store) ids() ([]placed, error) {
	var out []placed
	for _, place := range s.places() {
		ents, err := os.ReadDir(place)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("listing containers: %w", err)
		}
		for _, e := range ents {
			if e.IsDir() && e.Name() != "names" {
				out = append(out, placed{place, e.Name()})
			}
		}
	}
	return out, nil
}

// placed is a container directory: place/id.
type placed struct{ place, id string }

// Get finds a container by exact name, exact id or unique id prefix.
func (s *Store) Get(ctx context.Context, ref string) (*Container, error) {
	ref = strings.TrimPrefix(ref, "/")
	if ref == "" {
		return nil, fmt.Errorf("%w: empty name", ErrNotFound)
	}
	if validName().MatchString(ref) && !strings.Contains(ref, "/") {
		for _, place := range s.places() {
			if id, ok := nameOwner(place, ref); ok {
				return readIn(place, id)
			}
		}
	}
	all, err := s.ids()
	if err != nil {
		return nil, err
	}
	var matches []placed
	for _, p := range all {
		if strings.HasPrefix(p.id, ref) {
			if p.id == ref {
				matches = []placed{p}
				break
			}
			matches = append(matches, p)
		}
	}
	var found []*Container
	var corrupt error
	for _, p := range matches {
		c, err := readIn(p.place, p.id)
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

// listWorkers is how many goroutines List reads records with.
const listWorkers = 4

// List returns every container, newest first. Records that cannot be read are left
// out and reported in the error (wrapping ErrCorrupt), with the readable ones returned.
func (s *Store) List(ctx context.Context) ([]*Container, error) {
	all, err := s.ids()
	if err != nil {
		return nil, err
	}
	// Records are read and decoded by a few goroutines: with 1000 containers, reading
	// one after the other was 40 % of `berth ps` (a file opened, read and decoded each).
	cs, errs := make([]*Container, len(all)), make([]error, len(all))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(all), listWorkers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(all); i = int(next.Add(1) - 1) {
				cs[i], errs[i] = readIn(all[i].place, all[i].id)
			}
		}()
	}
	wg.Wait()
	var out []*Container
	var bad []error
	for i, c := range cs {
		switch err := errs[i]; {
		case errors.Is(err, ErrNotFound):
			// being created or removed
		case err != nil:
			bad = append(bad, err)
		default:
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, errors.Join(bad...)
}

// Remove deletes the record and directory of container id, wherever it is.
func (s *Store) Remove(ctx context.Context, id string) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	for _, place := range s.places() {
		c, _ := readIn(place, id)
		name := ""
		if c != nil {
			name = c.Name
		}
		if err := s.remove(place, id, name); err != nil {
			return err
		}
	}
	return nil
}

// Discard is Remove for a record the caller holds (one it created or read): the record
// is not read back, and only c's own directory is touched.
func (s *Store) Discard(ctx context.Context, c *Container) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	dir := s.Dir(c)
	return s.remove(filepath.Dir(dir), c.ID, c.Name)
}

// remove deletes place/id and frees name there if id holds it. The caller holds the lock.
func (s *Store) remove(place, id, name string) error {
	dir := filepath.Join(place, id)
	// Drop the record first: a half-removed directory is then invisible, not corrupt.
	if err := os.Remove(filepath.Join(dir, "container.json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing container %s: %w", id, err)
	}
	if name != "" {
		s.release(place, name, id)
	}
	if err := os.RemoveAll(dir); err != nil {
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
