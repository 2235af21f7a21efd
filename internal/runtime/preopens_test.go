package runtime

import (
	"reflect"
	"testing"

	"github.com/berth-dev/berth/internal/bundle"
	"github.com/berth-dev/berth/internal/engine"
)

func TestPreopens(t *testing.T) {
	tests := []struct {
		name   string
		rootRO bool
		binds  []bundle.Mount
		want   []engine.Mount
	}{
		{
			name: "rootfs only",
			want: []engine.Mount{{Source: "/rootfs", Target: "/"}},
		},
		{
			name:   "read-only rootfs and two binds, in order",
			rootRO: true,
			binds:  []bundle.Mount{{Source: "/a", Destination: "/data", ReadOnly: true}, {Source: "/b", Destination: "/out"}},
			want: []engine.Mount{{Source: "/rootfs", Target: "/", ReadOnly: true},
				{Source: "/a", Target: "/data", ReadOnly: true}, {Source: "/b", Target: "/out"}},
		},
		{
			name:  "a bind at / replaces the rootfs and stays first",
			binds: []bundle.Mount{{Source: "/a", Destination: "/data"}, {Source: "/host", Destination: "/"}},
			want:  []engine.Mount{{Source: "/host", Target: "/"}, {Source: "/a", Target: "/data"}},
		},
		{
			name:   "a writable bind at / over a read-only rootfs is writable",
			rootRO: true,
			binds:  []bundle.Mount{{Source: "/", Destination: "/"}},
			want:   []engine.Mount{{Source: "/", Target: "/"}},
		},
		{
			name:  "the later of two binds at one path wins, unclean spellings too",
			binds: []bundle.Mount{{Source: "/a", Destination: "/d"}, {Source: "/x", Destination: "/e"}, {Source: "/b", Destination: "/d/", ReadOnly: true}, {Source: "/r", Destination: "//"}},
			want:  []engine.Mount{{Source: "/r", Target: "/"}, {Source: "/b", Target: "/d", ReadOnly: true}, {Source: "/x", Target: "/e"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := preopens("/rootfs", tt.rootRO, tt.binds)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("preopens = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
