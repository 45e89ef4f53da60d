//go:build cgo

// Package fakeacl drives amq's fake libascendcl.so (cgo/fake) from Go
// tests: it registers sim as the fake's model executor and exposes the
// fake's fault injection, drift and leak report. It must be used after
// cann.Open loaded the fake library.
package fakeacl

/*
#cgo CFLAGS: -I${SRCDIR}/.. -I${SRCDIR}/../../../include
#include <stdlib.h>
#include <stdint.h>
void amqfake_install(void *set_executor);
int amqfake_leaks(void *fn, char *buf, size_t len);
int amqfake_inject(void *fn, const char *func, int nth, int code, const char *msg);
void amqfake_void(void *fn);
void amqfake_drift(void *fn, double rel);
uint64_t amqfake_calls(void *fn, const char *func);
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	"amq/cann"
	"amq/onnx"
	"amq/sim"
)

func sym(name string) (unsafe.Pointer, error) {
	p := cann.Symbol(name)
	if p == nil {
		return nil, fmt.Errorf("fakeacl: %s not found: the loaded ACL library is not amq's fake", name)
	}
	return p, nil
}

// Install registers sim as the executor of the loaded fake runtime.
func Install() error {
	p, err := sym("amq_fake_set_executor")
	if err != nil {
		return err
	}
	C.amqfake_install(p)
	return nil
}

// Leaks returns the number of live resources in the fake and one line
// describing each.
func Leaks() (int, string, error) {
	p, err := sym("amq_fake_leaks")
	if err != nil {
		return 0, "", err
	}
	buf := make([]byte, 1<<16)
	n := C.amqfake_leaks(p, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return int(n), C.GoString((*C.char)(unsafe.Pointer(&buf[0]))), nil
}

// Inject makes the nth following call of the ACL function fn fail with code
// and msg.
func Inject(fn string, nth, code int, msg string) error {
	p, err := sym("amq_fake_inject")
	if err != nil {
		return err
	}
	cf, cm := C.CString(fn), C.CString(msg)
	defer C.free(unsafe.Pointer(cf))
	defer C.free(unsafe.Pointer(cm))
	if C.amqfake_inject(p, cf, C.int(nth), C.int(code), cm) != 0 {
		return fmt.Errorf("fakeacl: fault table full")
	}
	return nil
}

// ClearFaults removes pending injected faults.
func ClearFaults() error {
	p, err := sym("amq_fake_clear_faults")
	if err != nil {
		return err
	}
	C.amqfake_void(p)
	return nil
}

// SetDrift perturbs every float output x to x*(1+rel)+rel (0: off).
func SetDrift(rel float64) error {
	p, err := sym("amq_fake_set_drift")
	if err != nil {
		return err
	}
	C.amqfake_drift(p, C.double(rel))
	return nil
}

// Calls reports how often the fake's ACL function fn was called.
func Calls(fn string) (uint64, error) {
	p, err := sym("amq_fake_calls")
	if err != nil {
		return 0, err
	}
	cf := C.CString(fn)
	defer C.free(unsafe.Pointer(cf))
	return uint64(C.amqfake_calls(p, cf)), nil
}

// precisionKey is the payload's metadata key under which the fake ATC
// (cgo/fake/fakeatc) records --precision_mode.
const precisionKey = "amq.precision_mode"

// execModel is a payload prepared for sim.
type execModel struct {
	s       *sim.Session
	inputs  []*onnx.ValueInfo
	outputs []*onnx.ValueInfo
}

var (
	mu     sync.Mutex
	models = map[uint32]*execModel{}
)

func prepare(id uint32, payload []byte) (*execModel, error) {
	mu.Lock()
	defer mu.Unlock()
	if m, ok := models[id]; ok {
		return m, nil
	}
	md, err := onnx.Load(payload)
	if err != nil {
		return nil, err
	}
	// The fake ATC records --precision_mode here; sim emulates it.
	s, err := sim.NewSession(md, &sim.Options{Precision: sim.Precision(md.Metadata[precisionKey])})
	if err != nil {
		return nil, err
	}
	m := &execModel{s: s, inputs: md.Graph.Inputs, outputs: md.Graph.Outputs}
	models[id] = m
	return m, nil
}

func run(id uint32, payload []byte, in, out [][]byte) error {
	m, err := prepare(id, payload)
	if err != nil {
		return err
	}
	if len(in) != len(m.inputs) || len(out) != len(m.outputs) {
		return fmt.Errorf("model has %d inputs and %d outputs, got %d and %d buffers", len(m.inputs), len(m.outputs), len(in), len(out))
	}
	feeds := map[string]*onnx.Tensor{}
	for i, vi := range m.inputs {
		dims, ok := vi.Dims()
		if !ok {
			return fmt.Errorf("input %q has no static shape", vi.Name)
		}
		t, err := cann.Decode(in[i], vi.DType, dims)
		if err != nil {
			return fmt.Errorf("input %q: %w", vi.Name, err)
		}
		feeds[vi.Name] = t
	}
	fetch := make([]string, len(m.outputs))
	for i, vi := range m.outputs {
		fetch[i] = vi.Name
	}
	res, err := m.s.Run(feeds, fetch...)
	if err != nil {
		return err
	}
	for i, vi := range m.outputs {
		b, err := cann.Encode(res[vi.Name], vi.DType)
		if err != nil {
			return fmt.Errorf("output %q: %w", vi.Name, err)
		}
		if len(b) != len(out[i]) {
			return fmt.Errorf("output %q: %d bytes computed, buffer holds %d", vi.Name, len(b), len(out[i]))
		}
		copy(out[i], b)
	}
	return nil
}

//export amqFakeExec
func amqFakeExec(user C.uintptr_t, id C.uint32_t, payload unsafe.Pointer, plen C.size_t,
	nin C.size_t, in *unsafe.Pointer, inSizes *C.size_t,
	nout C.size_t, out *unsafe.Pointer, outSizes *C.size_t, msg *C.char, msgLen C.size_t) (rc C.int) {
	defer func() {
		if p := recover(); p != nil {
			writeMsg(msg, msgLen, fmt.Sprintf("sim panicked: %v", p))
			rc = 1
		}
	}()
	bufs := func(ptrs *unsafe.Pointer, sizes *C.size_t, n C.size_t) [][]byte {
		ps := unsafe.Slice(ptrs, int(n))
		ss := unsafe.Slice(sizes, int(n))
		b := make([][]byte, n)
		for i := range b {
			if ss[i] > 0 {
				b[i] = unsafe.Slice((*byte)(ps[i]), int(ss[i]))
			}
		}
		return b
	}
	pl := C.GoBytes(payload, C.int(plen))
	if err := run(uint32(id), pl, bufs(in, inSizes, nin), bufs(out, outSizes, nout)); err != nil {
		writeMsg(msg, msgLen, err.Error())
		return 1
	}
	return 0
}

func writeMsg(dst *C.char, n C.size_t, s string) {
	if n == 0 {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(dst)), int(n))
	k := copy(b[:n-1], s)
	b[k] = 0
}
