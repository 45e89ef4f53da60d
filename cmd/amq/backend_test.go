package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"amq/cann"
	"amq/cgo/fake/fakeacl"
	"amq/internal/testfixture"
)

var (
	ascendOnce sync.Once
	ascendATC  string
	ascendErr  error
)

// requireAscendFake loads the fake libascendcl (scripts/test-ascend.sh sets
// AMQ_ASCENDCL_LIB) with sim as its executor, and a fake ATC.
func requireAscendFake(t *testing.T) {
	t.Helper()
	lib := os.Getenv("AMQ_ASCENDCL_LIB")
	if lib == "" {
		testfixture.Missing(t, "AMQ_ASCENDCL_LIB is not set: run scripts/test-ascend.sh")
	}
	ascendOnce.Do(func() {
		if _, ascendErr = cann.Open(lib); ascendErr != nil {
			return
		}
		if ascendErr = fakeacl.Install(); ascendErr != nil {
			return
		}
		ascendATC = os.Getenv("AMQ_ATC")
		if ascendATC == "" {
			dir, err := os.MkdirTemp("", "amq-fakeatc-")
			if err != nil {
				ascendErr = err
				return
			}
			ascendATC = filepath.Join(dir, "atc")
			if out, err := exec.Command("go", "build", "-o", ascendATC, "amq/cgo/fake/fakeatc").CombinedOutput(); err != nil {
				ascendErr = err
				t.Log(string(out))
			}
		}
	})
	if ascendErr != nil {
		t.Fatal(ascendErr)
	}
	t.Setenv("AMQ_ATC", ascendATC)
	t.Setenv("AMQ_CACHE_DIR", t.TempDir())
	t.Setenv("AMQ_SOC_VERSION", "Ascend310P3")
}
