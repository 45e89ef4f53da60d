// Package testfixture gives amq's tests what the tests of several packages
// need from outside the code under test: the model fixtures under the
// module's testdata folder, ONNX Runtime as an independent reference, and
// one rule for a fixture or runtime that is missing (Missing).
package testfixture

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Missing ends a test that needs something absent from this machine: under
// CI (the environment variable CI set), where everything must be installed,
// the test fails; elsewhere it is skipped, so that a developer machine
// without, say, ONNX Runtime still runs the other tests.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") != "" {
		tb.Fatalf(format, args...)
	}
	tb.Skipf(format, args...)
}

// Path returns the path of testdata/<elem...> in the module, ending the
// test with Missing when it does not exist.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	root, err := moduleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(append([]string{root, "testdata"}, elem...)...)
	if _, err := os.Stat(path); err != nil {
		Missing(tb, "%v", err)
	}
	return path
}

// moduleRoot is the folder of go.mod, found upward from the working
// directory, which go test sets to the folder of the package under test.
var moduleRoot = sync.OnceValues(func() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
})
