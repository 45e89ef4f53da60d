//go:build !unix

package atomicfile

import "os"

// umask is 0 where files have no Unix permissions.
func umask() os.FileMode { return 0 }
