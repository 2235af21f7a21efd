package wasi

// fsFuncs are the file-system functions other than those in core.go: the remaining
// fd_* and every path_*.
func fsFuncs() []Func { return nil }

// dirState is an fd_readdir cursor.
type dirState struct{}
