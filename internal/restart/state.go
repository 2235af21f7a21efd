package restart

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-dev/berth/internal/fsutil"
)

// Annotation is the OCI spec annotation (config.json "annotations") by which berth hands
// a detached container's restart policy to containerd-shim-berth-v1, in the form Parse
// reads ("on-failure:3"). containerd, Docker and CRI never set it, so under them the shim
// restarts nothing: their own restart logic (Docker's daemon, the kubelet) stays in charge.
const Annotation = "dev.berth.restart-policy"

// StateFile is the file, in the bundle, where the shim that carries out a policy keeps
// its State for berth to read (`ps`, `inspect`). It is written only for a container whose
// spec carries Annotation.
const StateFile = "berth-restart.json"

// State is what the shim tells of the restart policy it carries out for one container.
type State struct {
	Policy string // as Parse reads it
	// RestartCount is how many times the policy restarted the container since its shim
	// started it (docker's RestartCount; `berth start` begins again at 0, as docker's).
	RestartCount int
	// Restarting is true during a back-off: the last run exited and the next has not
	// started yet (docker's State.Restarting).
	Restarting bool
	Pid        int       // the current run's process; 0 while restarting
	StartedAt  time.Time // when the current (or, when restarting, the last) run started
	ExitCode   int       // how the last run ended; 0 before any run ended
	FinishedAt time.Time `json:",omitzero"` // when the last run ended
	NextStart  time.Time `json:",omitzero"` // while restarting: when the next run starts
}

// WriteState replaces bundle/StateFile with st, atomically: a reader sees the old state
// or the new one, never a mix. It is not synced to disk: after a crash of the host the
// shim is gone too and the state means nothing.
func WriteState(bundle string, st State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(bundle, StateFile), b, 0o644, false)
}

// ErrNoState is returned (wrapped) by ReadState when the bundle has no state file: the
// container has no policy, or its shim has not written it yet.
var ErrNoState = errors.New("no restart state")

// ReadState reads bundle/StateFile.
func ReadState(bundle string) (State, error) {
	p := filepath.Join(bundle, StateFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return State{}, fmt.Errorf("%w: %s", ErrNoState, p)
	}
	if err != nil {
		return State{}, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("reading the restart state %s: %w", p, err)
	}
	return st, nil
}
