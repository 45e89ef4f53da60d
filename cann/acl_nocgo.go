//go:build !cgo

package cann

import "unsafe"

// Open fails: the binary was built without cgo.
func Open(path string) (string, error) { return "", ErrNoCgo }

// Finalize fails: the binary was built without cgo.
func Finalize() error { return ErrNoCgo }

// DeviceCount fails: the binary was built without cgo.
func DeviceCount() (int, error) { return 0, ErrNoCgo }

// SocName fails: the binary was built without cgo.
func SocName() (string, error) { return "", ErrNoCgo }

// Symbol returns nil: no library is loaded without cgo.
func Symbol(name string) unsafe.Pointer { return nil }

type session struct{ device int }

func openSession(device int) (*session, error) { return nil, ErrNoCgo }
func (s *session) close() error                { return ErrNoCgo }

type model struct {
	inputs  []IO
	outputs []IO
}

func (s *session) loadFile(path string) (*model, error) { return nil, ErrNoCgo }
func (m *model) execute(in, out [][]byte) error         { return ErrNoCgo }
func (m *model) unload() error                          { return ErrNoCgo }
