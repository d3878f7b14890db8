// go-version prints the Go toolchain version the harnesses are built with; the testkit's own
// test uses it to prove the build-and-cache path works.
package main

import (
	"fmt"
	"runtime"
)

func main() {
	fmt.Println(runtime.Version())
}
