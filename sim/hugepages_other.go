//go:build !linux

package sim

// hugePages does nothing where sim does not ask for huge pages.
func hugePages([]float32) {}
