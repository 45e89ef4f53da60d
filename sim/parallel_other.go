//go:build !linux

package sim

// osYield does nothing here: spinning yields only to goroutines.
func osYield() {}
