//go:build unix

package atomicfile

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// startUmask is the umask when the process started; reading it means
// setting it, which is safe only before other goroutines create files.
var startUmask = func() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
}()

// umask is the process's file mode creation mask now: Linux tells it in
// /proc/self/status without changing it; elsewhere it is the one the
// process started with.
func umask() os.FileMode {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Umask:"); ok {
				if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					return os.FileMode(m)
				}
			}
		}
	}
	return startUmask
}
