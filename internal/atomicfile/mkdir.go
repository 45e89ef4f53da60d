package atomicfile

import (
	"os"
	"path/filepath"
	"sync"
)

// Made is what MkdirAll created: the folders that did not exist, the
// deepest first.
type Made []string

// MkdirAll creates dir and every missing parent, and returns the folders
// it created so that a run that fails can leave no empty output folder
// behind (Undo).
func MkdirAll(dir string) (Made, error) {
	var made Made
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		made = append(made, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	madeMu.Lock()
	madeDirs = append(madeDirs, made...)
	madeMu.Unlock()
	return made, nil
}

// madeDirs are the folders MkdirAll created in this process, in order of
// creation deepest first per call, for RemoveAll.
var (
	madeMu   sync.Mutex
	madeDirs []string
)

// removeMade removes the folders MkdirAll created that are empty, the
// deepest first: a signal ends a run that created its output folder.
func removeMade() {
	madeMu.Lock()
	defer madeMu.Unlock()
	for _, d := range madeDirs {
		os.Remove(d) // fails, as it should, on a folder that holds files
	}
	madeDirs = nil
}

// Undo removes the folders MkdirAll created, the deepest first, as long as
// they are empty: a file another process put there stays.
func (m Made) Undo() {
	for _, d := range m {
		if os.Remove(d) != nil {
			return
		}
	}
}
