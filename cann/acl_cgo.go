//go:build cgo

package cann

/*
#cgo CFLAGS: -I${SRCDIR}/../include -std=gnu11
#cgo LDFLAGS: -ldl -lpthread
#include <stdlib.h>
#include "amq_acl.h"
*/
import "C"

import (
	"runtime"
	"unsafe"
)

func statusErr(rc C.int, st *C.amq_acl_status) error {
	if rc == 0 {
		return nil
	}
	return &Error{Func: C.GoString(&st._func[0]), Code: int(st.code), Msg: C.GoString(&st.msg[0])}
}

// Open loads the ACL library and initializes ACL. path "" means the default
// search (FindLibrary). The first call decides for the whole process: later
// calls return its result. It returns the path used.
func Open(path string) (string, error) {
	cpath := C.CString(FindLibrary(path).Library)
	defer C.free(unsafe.Pointer(cpath))
	var used [4096]C.char
	var st C.amq_acl_status
	rc := C.amq_acl_open(cpath, &used[0], C.size_t(len(used)), &st)
	return C.GoString(&used[0]), statusErr(rc, &st)
}

// Finalize calls aclFinalize. ACL cannot be initialized again in the same
// process afterwards, so only tools and tests that end the process call it.
func Finalize() error {
	var st C.amq_acl_status
	return statusErr(C.amq_acl_close(&st), &st)
}

// DeviceCount reports the number of NPUs (aclrtGetDeviceCount).
func DeviceCount() (int, error) {
	var n C.uint32_t
	var st C.amq_acl_status
	if err := statusErr(C.amq_acl_device_count(&n, &st), &st); err != nil {
		return 0, err
	}
	return int(n), nil
}

// SocName reports aclrtGetSocName(), such as "Ascend310P3" ("" if unknown).
func SocName() (string, error) {
	var buf [256]C.char
	var st C.amq_acl_status
	if err := statusErr(C.amq_acl_soc_name(&buf[0], C.size_t(len(buf)), &st), &st); err != nil {
		return "", err
	}
	return C.GoString(&buf[0]), nil
}

// Symbol returns the address of a symbol of the loaded ACL library, or nil.
// Tests use it to reach the fake runtime's own functions.
func Symbol(name string) unsafe.Pointer {
	c := C.CString(name)
	defer C.free(unsafe.Pointer(c))
	return C.amq_acl_sym(c)
}

// session is an open device: its context and stream. Its methods may be
// called from any thread (the shim sets the context on each call) but not
// concurrently.
type session struct {
	p      *C.amq_acl_session
	device int
}

func openSession(device int) (*session, error) {
	var p *C.amq_acl_session
	var st C.amq_acl_status
	if err := statusErr(C.amq_acl_session_open(C.int32_t(device), &p, &st), &st); err != nil {
		return nil, err
	}
	return &session{p: p, device: device}, nil
}

func (s *session) close() error {
	var st C.amq_acl_status
	err := statusErr(C.amq_acl_session_close(s.p, &st), &st)
	s.p = nil
	return err
}

// model is a loaded offline model with its device buffers.
type model struct {
	p       *C.amq_acl_model
	inputs  []IO
	outputs []IO
}

func (s *session) loadFile(path string) (*model, error) {
	c := C.CString(path)
	defer C.free(unsafe.Pointer(c))
	var p *C.amq_acl_model
	var st C.amq_acl_status
	if err := statusErr(C.amq_acl_model_load(s.p, c, nil, 0, &p, &st), &st); err != nil {
		return nil, err
	}
	m := &model{p: p}
	for out := 0; out < 2; out++ {
		n := int(C.amq_acl_model_num_io(p, C.int(out)))
		for i := 0; i < n; i++ {
			var io C.amq_acl_io
			C.amq_acl_model_io(p, C.int(out), C.size_t(i), &io)
			d := IO{Name: C.GoString(&io.name[0]), ACLType: int(io.dtype), Size: int(io.size)}
			for k := 0; k < int(io.ndims); k++ {
				d.Dims = append(d.Dims, int64(io.dims[k]))
			}
			if out == 0 {
				m.inputs = append(m.inputs, d)
			} else {
				m.outputs = append(m.outputs, d)
			}
		}
	}
	return m, nil
}

// execute runs the model; in and out must have the model's sizes.
func (m *model) execute(in, out [][]byte) error {
	var pin runtime.Pinner
	defer pin.Unpin()
	// The pointer arrays are Go memory holding pinned Go pointers, which
	// cgo allows to pass.
	inPtrs := make([]unsafe.Pointer, len(in)+1)
	inSizes := make([]C.size_t, len(in)+1)
	for i, b := range in {
		if len(b) > 0 {
			pin.Pin(&b[0])
			inPtrs[i] = unsafe.Pointer(&b[0])
		}
		inSizes[i] = C.size_t(len(b))
	}
	outPtrs := make([]unsafe.Pointer, len(out)+1)
	outSizes := make([]C.size_t, len(out)+1)
	for i, b := range out {
		if len(b) > 0 {
			pin.Pin(&b[0])
			outPtrs[i] = unsafe.Pointer(&b[0])
		}
		outSizes[i] = C.size_t(len(b))
	}
	pin.Pin(&inPtrs[0])
	pin.Pin(&outPtrs[0])
	var st C.amq_acl_status
	rc := C.amq_acl_model_execute(m.p, (*unsafe.Pointer)(unsafe.Pointer(&inPtrs[0])), &inSizes[0],
		(*unsafe.Pointer)(unsafe.Pointer(&outPtrs[0])), &outSizes[0], &st)
	return statusErr(rc, &st)
}

func (m *model) unload() error {
	var st C.amq_acl_status
	err := statusErr(C.amq_acl_model_unload(m.p, &st), &st)
	m.p = nil
	return err
}
