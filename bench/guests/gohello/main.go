// Command gohello is the Go-built hello of the benchmarks (~2.6 MB as wasip1).
package main

import "fmt"

func main() { fmt.Println("hello from go") }
