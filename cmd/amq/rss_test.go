//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// measureEnv marks a test binary started as a measuring parent.
const measureEnv = "AMQ_TEST_MEASURE_RSS"

// peakRSS runs bin with args and returns its combined output and its peak
// resident memory in bytes. Linux charges a child started with vfork (as
// os/exec does) with its parent's peak at exec, so a big test process
// would inflate the figure; the command is therefore started from a fresh,
// small copy of the test binary, whose own peak is the floor of the
// measurement.
func peakRSS(t *testing.T, bin string, args ...string) (out []byte, peak int64, err error) {
	t.Helper()
	parent := exec.Command(os.Args[0], append([]string{bin}, args...)...)
	parent.Env = append(os.Environ(), measureEnv+"=1")
	var stdout, stderr bytes.Buffer
	parent.Stdout, parent.Stderr = &stdout, &stderr
	err = parent.Run()
	line := strings.TrimSpace(stdout.String())
	kb, perr := strconv.ParseInt(strings.TrimPrefix(line, "maxrss "), 10, 64)
	if perr != nil {
		t.Fatalf("measuring parent printed %q: %v\n%s", line, perr, stderr.Bytes())
	}
	return stderr.Bytes(), kb * 1024, err
}

// measureChild runs args[0] with args[1:], passing its output on to
// stderr, prints "maxrss KB" (the child's peak) on stdout and returns the
// child's exit status.
func measureChild(args []string) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	err := cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, err)
		fmt.Println("maxrss -1")
		return 2
	}
	fmt.Printf("maxrss %d\n", cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
	return cmd.ProcessState.ExitCode()
}
