package benchkit

import (
	"os"
	"testing"
	"time"
)

const wrkOut = `Running 1s test @ http://127.0.0.1:8080/
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    52.11us   20.00us   1.00ms   90.00%
    Req/Sec    18.00k     1.00k   20.00k    70.00%
  Latency Distribution
     50%   48.50us
     75%   55.00us
     90%   65.00us
     99%    1.20ms
  18000 requests in 1.00s, 2.00MB read
Requests/sec:  18000.50
Transfer/sec:      2.00MB
`

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		latency bool
		want    WrkResult
		wantErr bool
	}{
		{"latency", wrkOut, true, WrkResult{RPS: 18000.5, P50: 48500 * time.Nanosecond, P99: 1200 * time.Microsecond}, false},
		{"no latency asked", wrkOut, false, WrkResult{RPS: 18000.5}, false},
		{"seconds", "     50%    1.50s\n     99%    2.00s\nRequests/sec: 1.00\n", true, WrkResult{RPS: 1, P50: 1500 * time.Millisecond, P99: 2 * time.Second}, false},
		{"errors", wrkOut + "  Socket errors: connect 0, read 3, write 0, timeout 0\n  Non-2xx or 3xx responses: 7\n", false,
			WrkResult{RPS: 18000.5, Errors: "Socket errors: connect 0, read 3, write 0, timeout 0; Non-2xx or 3xx responses: 7"}, false},
		{"no rps", "unable to connect to 127.0.0.1:1 Connection refused\n", false, WrkResult{}, true},
		{"latency missing", "Requests/sec: 5\n", true, WrkResult{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWrk([]byte(tt.out), tt.latency)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	if got := Median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("Median(3,1,2) = %v, want 2", got)
	}
	if got := Median([]time.Duration{4, 1, 3, 2}); got != 3 {
		t.Errorf("Median(4,1,3,2) = %v, want 3 (the upper one)", got)
	}
	if got := Median[float64](nil); got != 0 {
		t.Errorf("Median(nil) = %v, want 0", got)
	}
}

func TestTaskCPU(t *testing.T) {
	// Burn some CPU so that this process's schedstat counts more than nothing.
	for start := time.Now(); time.Since(start) < 20*time.Millisecond; {
	}
	d, err := TaskCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d < 10*time.Millisecond {
		t.Errorf("TaskCPU(self) = %v after 20 ms of busy loop, want ≥ 10 ms", d)
	}
	if _, err := TaskCPU(1 << 30); err == nil { // beyond pid_max: no such process
		t.Error("TaskCPU of a process that does not exist: no error")
	}
}
