//go:build cgo && amqfake

package main

import (
	"fmt"
	"os"

	"amq/cann"
	"amq/cgo/fake/fakeacl"
)

// With the amqfake build tag amq becomes a test binary for machines without
// an NPU: when $AMQ_ASCENDCL_LIB names amq's fake libascendcl (cgo/fake),
// it installs sim as the fake's model executor at start, as the cmd tests
// do in-process, so that `amq quantize --backend ascend` runs the whole
// Go → cgo → C → runtime path in a separate process (scripts/build-board.sh
// builds it as build/board/amq-fake-linux-arm64 for scripts/test-board.sh).
// Release binaries are built without the tag.
func init() {
	lib := os.Getenv("AMQ_ASCENDCL_LIB")
	if lib == "" {
		return
	}
	if _, err := cann.Open(lib); err != nil {
		return // the command that needs the library reports it
	}
	if err := fakeacl.Install(); err != nil {
		fmt.Fprintln(os.Stderr, "amq (amqfake build):", err)
		os.Exit(1)
	}
}
