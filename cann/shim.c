//go:build cgo

// The shim's single source lives in cgo/amq_acl.c, shared with the CMake
// build (C tests, sanitizers, CANN header check); cgo compiles only .c files
// in the package directory, so this file includes it.
#include "../cgo/amq_acl.c"
