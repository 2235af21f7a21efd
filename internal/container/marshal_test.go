package container

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/jsonlite/jsonlitetest"
)

// TestMarshalFields fails when Container gains a field: marshal writes them by hand.
func TestMarshalFields(t *testing.T) {
	names := func(v any) []string {
		var out []string
		typ := reflect.TypeOf(v)
		for i := 0; i < typ.NumField(); i++ {
			out = append(out, typ.Field(i).Name+" "+string(typ.Field(i).Tag))
		}
		return out
	}
	for _, tt := range []struct {
		v    any
		want []string
	}{
		{Container{}, []string{"ID ", "Name ", "Image ", `ImageDigest json:",omitempty"`, "Created ", "Path ", "Args ", `Env json:",omitempty"`, "WorkingDir ", `Detached json:",omitempty"`, `LogPath json:",omitempty"`, `RestartCount json:",omitempty"`, "HostConfig ", "State ", "dir "}},
		{HostConfig{}, []string{"AutoRemove ", `Binds json:",omitempty"`, `Memory json:",omitempty"`, `NetworkMode json:",omitempty"`, `PublishedPorts json:",omitempty"`, `LogConfig json:",omitempty"`, `RestartPolicy json:",omitempty"`}},
		{RestartPolicy{}, []string{"Name ", `MaximumRetryCount json:",omitempty"`}},
		{LogConfig{}, []string{"Type ", `Config json:",omitempty"`}},
		{State{}, []string{"Status ", "Running ", `Restarting json:",omitempty"`, "Pid ", "ExitCode ", `Error json:",omitempty"`, `StartedAt json:",omitzero"`, `FinishedAt json:",omitzero"`}},
	} {
		if got := names(tt.v); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%T has fields %q; update Container.marshal and this test (want %q)", tt.v, got, tt.want)
		}
	}
}

func TestMarshalMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	g := jsonlitetest.Gen{R: r}
	str, list := g.String, g.List
	when := func() time.Time {
		switch r.IntN(3) {
		case 0:
			return time.Time{}
		case 1:
			return time.Date(2026, 11, 27, 7, 45, 1, r.IntN(1e9), time.UTC)
		}
		return time.Date(1999, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	}
	logConfig := func() *LogConfig {
		switch r.IntN(4) {
		case 0:
			return nil
		case 1:
			return &LogConfig{Type: str()}
		case 2:
			return &LogConfig{Type: str(), Config: map[string]string{}}
		}
		return &LogConfig{Type: str(), Config: map[string]string{str(): str(), "max-size": str()}}
	}
	restartPolicy := func() *RestartPolicy {
		switch r.IntN(3) {
		case 0:
			return nil
		case 1:
			return &RestartPolicy{Name: str()}
		}
		return &RestartPolicy{Name: str(), MaximumRetryCount: r.IntN(5) - 1}
	}
	for i := 0; i < 2000; i++ {
		c := &Container{ID: str(), Name: str(), Image: str(), ImageDigest: str(), Created: when(), Path: str(),
			Args: list(), Env: list(), WorkingDir: str(), Detached: r.IntN(2) == 0, LogPath: str(),
			RestartCount: r.IntN(3) - 1,
			HostConfig: HostConfig{AutoRemove: r.IntN(2) == 0, Binds: list(), Memory: int64(r.IntN(3)) << 20,
				NetworkMode: str(), PublishedPorts: list(), LogConfig: logConfig(), RestartPolicy: restartPolicy()},
			State: State{Status: str(), Running: r.IntN(2) == 0, Restarting: r.IntN(2) == 0, Pid: r.IntN(3) - 1, ExitCode: r.IntN(300), Error: str(),
				StartedAt: when(), FinishedAt: when()}}
		want, err := json.MarshalIndent(c, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("marshal:\n%s\nencoding/json:\n%s", got, want)
		}
	}
	if _, err := (&Container{Created: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}).marshal(); err == nil {
		t.Error("a year past 9999 was encoded; encoding/json refuses it")
	}
}
