//go:build !cgo

package ort

import (
	"errors"

	"amq/onnx"
)

var errNoCgo = errors.New("ort: built without cgo; ONNX Runtime needs CGO_ENABLED=1")

// Available reports whether ONNX Runtime can be used; built without cgo it
// never can.
func Available() error { return errNoCgo }

// Session is a model loaded in ONNX Runtime (unavailable without cgo).
type Session struct{}

// NewSession fails: ONNX Runtime needs cgo.
func NewSession(path string, opt *Options) (*Session, error) { return nil, errNoCgo }

// NewSessionFromBytes fails: ONNX Runtime needs cgo.
func NewSessionFromBytes(data []byte, opt *Options) (*Session, error) { return nil, errNoCgo }

// NewSessionFromModel fails: ONNX Runtime needs cgo.
func NewSessionFromModel(m *onnx.Model, opt *Options) (*Session, error) { return nil, errNoCgo }

// Inputs returns nil.
func (s *Session) Inputs() []string { return nil }

// Outputs returns nil.
func (s *Session) Outputs() []string { return nil }

// Run fails: ONNX Runtime needs cgo.
func (s *Session) Run(inputs map[string]*onnx.Tensor, outputs ...string) (map[string]*onnx.Tensor, error) {
	return nil, errNoCgo
}

// Close does nothing.
func (s *Session) Close() error { return nil }
