//go:build !unix

package atomicfile

// lockDir does nothing where folders cannot be locked.
func lockDir(dir string) (unlock func(), err error) { return func() {}, nil }

// lockFile locks nothing where flock does not exist: runs on one prefix
// are not kept apart there (their commits still leave whole sets).
func lockFile(path, prefix string) (*Lock, *Holder, error) { return &Lock{path: path}, nil, nil }
