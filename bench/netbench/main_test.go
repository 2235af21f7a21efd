package main

import (
	"testing"
	"time"
)

func TestNewLoadCPU(t *testing.T) {
	tests := []struct {
		name          string
		used, elapsed time.Duration
		requests      float64
		wantCore      float64
		wantPerReq    time.Duration
	}{
		{"one core busy", 10 * time.Second, 10 * time.Second, 40000, 100, 250 * time.Microsecond},
		{"two cores busy", 20 * time.Second, 10 * time.Second, 400000, 200, 50 * time.Microsecond},
		{"no request answered", time.Second, 10 * time.Second, 0, 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := newLoadCPU(tt.used, tt.elapsed, tt.requests)
			if got.core != tt.wantCore || got.perReq != tt.wantPerReq {
				t.Errorf("newLoadCPU(%v, %v, %v) = %+v, want core %v, perReq %v", tt.used, tt.elapsed, tt.requests, got, tt.wantCore, tt.wantPerReq)
			}
		})
	}
}
