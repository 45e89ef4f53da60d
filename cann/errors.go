package cann

import (
	"errors"
	"fmt"
)

// ErrStub is wrapped by errors from CANN's stub libascendcl, the library
// installed for building on machines without an NPU driver.
var ErrStub = errors.New("CANN runtime is a stub library: no NPU available (use --backend sim, or run on an Ascend board with the driver installed)")

// ErrNoCgo is returned by every function of a binary built with
// CGO_ENABLED=0.
var ErrNoCgo = errors.New("amq was built without cgo: the Ascend backend is not available (rebuild with CGO_ENABLED=1, or use --backend sim)")

// Codes of ACL errors that amq interprets (acl_base.h).
const (
	codeStub = 100039
	// Shim failures that are not ACL's (include/amq_acl.h).
	codeDlopen = -1
	codeDlsym  = -2
)

// Error is a failed ACL call.
type Error struct {
	Func string // the ACL function that failed, such as "aclmdlExecute"
	Code int    // ACL error code, or a negative shim code
	Msg  string // aclGetRecentErrMsg() of the failing call, or dlerror()
}

// Error describes the failure: the ACL function, its code and message, or
// why the library could not be loaded.
func (e *Error) Error() string {
	switch {
	case e.Code == codeStub:
		return fmt.Sprintf("%s: %v", e.Func, ErrStub)
	case e.Code == codeDlopen:
		return fmt.Sprintf("cannot load the ACL library (set AMQ_ASCENDCL_LIB or ASCEND_TOOLKIT_HOME, e.g. source /usr/local/Ascend/ascend-toolkit/set_env.sh): %s", e.Msg)
	case e.Code < 0:
		return fmt.Sprintf("%s: %s", e.Func, e.Msg)
	case e.Msg == "":
		return fmt.Sprintf("%s failed: ACL error %d", e.Func, e.Code)
	}
	return fmt.Sprintf("%s failed: ACL error %d: %s", e.Func, e.Code, e.Msg)
}

// Unwrap makes errors.Is(err, ErrStub) true for the stub library's code.
func (e *Error) Unwrap() error {
	if e.Code == codeStub {
		return ErrStub
	}
	return nil
}
