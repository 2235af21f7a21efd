//go:build race

package wasi_test

// stopBound is how soon after the cancel a guest's Run must return. The race detector
// slows the engine's unwinding and cleanup several-fold.
const stopBound = 400e6 // ns
