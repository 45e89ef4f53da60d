// Package cann runs ONNX models on Huawei Ascend NPUs through CANN's ACL
// runtime: the "ascend" backend of package backend, for calibration.
//
// The model is compiled to an offline model (.om) by ATC, with every tensor
// that calibration observes exposed as an output, and executed through a
// thin C shim (cgo/amq_acl.c) that loads libascendcl.so with dlopen at run
// time: amq builds without CANN and needs it only on the board. ACL
// contexts belong to OS threads, so each device is driven by one goroutine
// locked to its thread; several devices run batches in parallel.
//
// Built with CGO_ENABLED=0 the package compiles, and every entry point
// returns an error saying so.
//
// The library is found by FindLibrary (Options.Library, else
// $AMQ_ASCENDCL_LIB, else lib64/libascendcl.so in CANN's home), which amq
// doctor reports. It is loaded and initialized (aclInit) once per process.
package cann
