package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The amq binary that process-level tests (signals, locks, disk full, big
// data) run, built once per test binary rather than once per test.
var (
	amqOnce sync.Once
	amqDir  string
	amqBin  string
	amqErr  error
	amqOut  []byte
)

// TestMain runs the tests and removes the shared amq build afterwards; a
// test binary started by peakRSS as a measuring parent runs one command
// instead (see rss_test.go).
func TestMain(m *testing.M) {
	if os.Getenv(measureEnv) != "" {
		os.Exit(measureChild(os.Args[1:]))
	}
	code := m.Run()
	if amqDir != "" {
		os.RemoveAll(amqDir)
	}
	os.Exit(code)
}

// buildAmq returns the path of an amq binary built from this package.
func buildAmq(t *testing.T) string {
	t.Helper()
	amqOnce.Do(func() {
		amqDir, amqErr = os.MkdirTemp("", "amq-test-bin-")
		if amqErr != nil {
			return
		}
		amqBin = filepath.Join(amqDir, "amq")
		amqOut, amqErr = exec.Command("go", "build", "-o", amqBin, ".").CombinedOutput()
	})
	if amqErr != nil {
		t.Fatalf("go build: %v\n%s", amqErr, amqOut)
	}
	return amqBin
}
