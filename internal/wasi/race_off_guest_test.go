//go:build !race

package wasi_test

// stopBound is how soon after the cancel a guest's Run must return.
const stopBound = 100e6 // ns
