package atomicfile

import (
	"os"
	"sync"
)

// live holds the temporary files and staging folders in use, for
// RemoveAll.
var live sync.Map

func track(path string)   { live.Store(path, true) }
func untrack(path string) { live.Delete(path) }

// RemoveAll removes every temporary file and staging folder this process
// has not committed or removed yet, then releases its output locks
// (LockPrefix) and removes the folders MkdirAll created that are left
// empty. A command calls it when a signal ends it, so that an interrupted
// run leaves nothing behind. The locks go after the staging, so that the
// next run on the prefix finds nothing of this one.
func RemoveAll() {
	live.Range(func(k, _ any) bool {
		os.RemoveAll(k.(string))
		live.Delete(k)
		return true
	})
	unlockAll()
	removeMade()
}
