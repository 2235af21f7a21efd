package wasi

// wasmedgeFuncs are the WasmEdge socket extension, both generations.
func wasmedgeFuncs() []Func { return nil }
