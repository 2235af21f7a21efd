package cli

import (
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/container"
)

// containerJSON is `inspect` of a container in docker's shape (the fields of moby's
// ContainerJSON that apply to a Wasm container), so that scripts reading
// `.State.Running`, `.State.ExitCode` or `.Name` with jq or --format keep working.
//
// # Notes
//
//   - Config.Entrypoint and Config.Cmd: berth records the process as run (the image's
//     Entrypoint and Cmd combined with the flags), so Entrypoint is the module and Cmd
//     its arguments, which is what docker shows for an image whose Entrypoint names
//     the module and whose Cmd holds the arguments.
//   - Image is the image's manifest digest (docker shows its config digest, the image
//     id, which berth does not key images by); "" for a local .wasm file.
type containerJSON struct {
	ID           string `json:"Id"`
	Created      time.Time
	Path         string
	Args         []string
	State        stateJSON
	Image        string
	Name         string
	RestartCount int
	Driver       string
	Platform     string
	LogPath      string
	HostConfig   hostConfigJSON
	Mounts       []mountJSON
	Config       configJSON
	// NetworkSettings: the published ports while the container runs (network.go).
	NetworkSettings networkSettingsJSON
}

type stateJSON struct {
	Status                                       string
	Running, Paused, Restarting, OOMKilled, Dead bool
	Pid, ExitCode                                int
	Error                                        string
	StartedAt, FinishedAt                        string
}

type hostConfigJSON struct {
	Binds         []string
	AutoRemove    bool
	Memory        int64
	LogConfig     logConfigJSON
	RestartPolicy restartPolicyJSON
	// NetworkMode and PortBindings: --network and -p/-P (network.go).
	NetworkMode  string
	PortBindings map[string][]portBindingJSON
}

type logConfigJSON struct {
	Type   string
	Config map[string]string
}

type restartPolicyJSON struct {
	Name              string
	MaximumRetryCount int
}

type mountJSON struct {
	Type, Source, Destination, Mode string
	RW                              bool
	Propagation                     string
}

type configJSON struct {
	Hostname   string
	Image      string
	Env        []string
	Cmd        []string
	Entrypoint []string
	WorkingDir string
}

// dockerTime is docker's rendering of a time in inspect: RFC 3339 with nanoseconds, and
// the zero time as "0001-01-01T00:00:00Z".
func dockerTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

func inspectContainer(c *container.Container) containerJSON {
	j := containerJSON{
		ID: c.ID, Created: c.Created, Path: c.Path, Args: nonNil(c.Args), Image: c.ImageDigest,
		Name: "/" + c.Name, Driver: "berth", Platform: "wasi", LogPath: c.LogPath,
		RestartCount: c.RestartCount,
		State: stateJSON{Status: c.State.Status, Running: c.State.Running, Restarting: c.State.Restarting, Pid: c.State.Pid, ExitCode: c.State.ExitCode,
			Error: c.State.Error, StartedAt: dockerTime(c.State.StartedAt), FinishedAt: dockerTime(c.State.FinishedAt)},
		HostConfig: hostConfigJSON{Binds: c.HostConfig.Binds, AutoRemove: c.HostConfig.AutoRemove, Memory: c.HostConfig.Memory,
			LogConfig: logConfigJSON{Type: "none", Config: map[string]string{}}, RestartPolicy: restartPolicyJSON{Name: "no"}},
		Mounts: []mountJSON{},
		Config: configJSON{Image: c.Image, Env: nonNil(c.Env), Cmd: nonNil(c.Args), Entrypoint: []string{c.Path}, WorkingDir: c.WorkingDir},
	}
	if len(c.ID) >= 12 {
		j.Config.Hostname = c.ID[:12]
	}
	j.HostConfig.NetworkMode, j.HostConfig.PortBindings = c.HostConfig.NetworkMode, portMap(bindings(c, true))
	j.NetworkSettings = networkSettings(c)
	if !c.State.Running {
		j.State.Pid = 0
	}
	if rp := c.HostConfig.RestartPolicy; rp != nil {
		j.HostConfig.RestartPolicy = restartPolicyJSON{Name: rp.Name, MaximumRetryCount: rp.MaximumRetryCount}
	}
	if lc := c.HostConfig.LogConfig; lc != nil {
		j.HostConfig.LogConfig.Type = lc.Type
		for k, v := range lc.Config {
			j.HostConfig.LogConfig.Config[k] = v
		}
	}
	for _, b := range c.HostConfig.Binds {
		parts := strings.Split(b, ":")
		if len(parts) < 2 {
			continue
		}
		m := mountJSON{Type: "bind", Source: parts[0], Destination: parts[1], RW: true, Propagation: "rprivate"}
		if len(parts) > 2 {
			m.Mode = parts[2]
			m.RW = parts[2] != "ro"
		}
		j.Mounts = append(j.Mounts, m)
	}
	return j
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
