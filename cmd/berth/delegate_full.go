//go:build !berth_core

package main

// delegate is nil in the complete berth: it carries every command.
var delegate func(args []string) error
