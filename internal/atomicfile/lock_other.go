//go:build !unix

package atomicfile

// lockDir does nothing where folders cannot be locked.
func lockDir(dir string) (unlock func(), err error) { return func() {}, nil }
