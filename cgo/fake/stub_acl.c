/*
 * stub_acl.c - a stand-in for CANN's stub libascendcl.so (the one installed
 * for compiling on machines without an NPU): every function fails with
 * ACL_ERROR_COMPILING_STUB_MODE, pointer getters return NULL and size
 * getters 0. Tests use it to check that amq says "no NPU available".
 */
#include "amq_acl_decls.h"

#define STUB(ret, name, params) \
    __attribute__((visibility("default"))) ret name params { \
        return (ret)_Generic((ret)0, int: (long)AMQ_ACL_ERROR_COMPILING_STUB_MODE, default: 0L); \
    }
AMQ_ACL_FUNCS(STUB)
