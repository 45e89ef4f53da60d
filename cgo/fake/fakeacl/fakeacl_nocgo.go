//go:build !cgo

// Package fakeacl drives amq's fake libascendcl.so from Go tests. Without
// cgo there is no library to drive: every function returns cann.ErrNoCgo.
package fakeacl

import "amq/cann"

// Install fails without cgo.
func Install() error { return cann.ErrNoCgo }

// Leaks fails without cgo.
func Leaks() (int, string, error) { return 0, "", cann.ErrNoCgo }

// Inject fails without cgo.
func Inject(fn string, nth, code int, msg string) error { return cann.ErrNoCgo }

// ClearFaults fails without cgo.
func ClearFaults() error { return cann.ErrNoCgo }

// SetDrift fails without cgo.
func SetDrift(rel float64) error { return cann.ErrNoCgo }

// Calls fails without cgo.
func Calls(fn string) (uint64, error) { return 0, cann.ErrNoCgo }
