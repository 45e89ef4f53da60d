//go:build cgo

// Calls into the fake runtime's own functions, reached by dlsym through the
// shim (cann.Symbol), and the executor trampoline.
#include <stdint.h>
#include <stddef.h>
#include "amq_fake.h"
#include "_cgo_export.h"

void amqfake_install(void *set_executor) {
    ((void (*)(amq_fake_exec_fn, uintptr_t))set_executor)((amq_fake_exec_fn)amqFakeExec, 0);
}

int amqfake_leaks(void *fn, char *buf, size_t len) {
    return ((int (*)(char *, size_t))fn)(buf, len);
}

int amqfake_inject(void *fn, const char *func, int nth, int code, const char *msg) {
    return ((int (*)(const char *, int, int, const char *))fn)(func, nth, code, msg);
}

void amqfake_void(void *fn) { ((void (*)(void))fn)(); }

void amqfake_drift(void *fn, double rel) { ((void (*)(double))fn)(rel); }

uint64_t amqfake_calls(void *fn, const char *func) {
    return ((uint64_t (*)(const char *))fn)(func);
}
