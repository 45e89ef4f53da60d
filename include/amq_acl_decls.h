/*
 * amq_acl_decls.h - amq's own declarations of the part of CANN's ACL C API
 * (acl.h, acl_base.h, acl_rt.h, acl_mdl.h) that amq uses.
 *
 * amq never needs CANN at build time: the shim loads libascendcl.so with
 * dlopen and calls it through the function-pointer types below. The fake
 * runtime used in tests implements the same functions against these
 * declarations.
 *
 * Drift check: compile any file that includes this header with
 * -DAMQ_CHECK_CANN_HEADERS and -I$ASCEND_TOOLKIT_HOME/include; then the ACL
 * types come from CANN's own acl/acl.h and every function type and enum
 * value below is checked against CANN's with _Static_assert (CMake does this
 * automatically when it finds a CANN install).
 *
 * Confidence in the values (CANN 7/8 headers, acl_base.h / acl_rt.h /
 * acl_mdl.h as published in the hicann repositories):
 *   sure:   ACL_SUCCESS 0, ACL_ERROR_INVALID_PARAM 100000,
 *           ACL_ERROR_UNINITIALIZE 100001, ACL_ERROR_REPEAT_INITIALIZE 100002,
 *           ACL_ERROR_INVALID_FILE 100003, ACL_ERROR_INVALID_MODEL_ID 100011,
 *           ACL_ERROR_BAD_ALLOC 200000, memcpy kinds 0..3,
 *           ACL_MEM_MALLOC_HUGE_FIRST 0, ACL_FLOAT 0 .. ACL_BOOL 12,
 *           ACL_MAX_DIM_CNT 128, ACL_MAX_TENSOR_NAME_LEN 128.
 *           ACL_ERROR_COMPILING_STUB_MODE 100039 (what the stub library of
 *           CANN returns), ACL_ERROR_RT_CONTEXT_NULL 107002 — the error
 *           codes checked against copies of acl_base.h's error list
 *           (100010 is ACL_ERROR_INVALID_PROFILING_CONFIG, not the model id).
 * The header check turns any mismatch into a compile error.
 */
#ifndef AMQ_ACL_DECLS_H
#define AMQ_ACL_DECLS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef AMQ_CHECK_CANN_HEADERS
#include <acl/acl.h>
#else
/* Types, with the names and layouts CANN gives them. */
typedef int aclError;
typedef int aclDataType;
typedef int aclrtMemMallocPolicy;
typedef int aclrtMemcpyKind;
typedef void *aclrtContext;
typedef void *aclrtStream;
typedef struct aclmdlDesc aclmdlDesc;
typedef struct aclmdlDataset aclmdlDataset;
typedef struct aclDataBuffer aclDataBuffer;

#define ACL_MAX_DIM_CNT 128
#define ACL_MAX_TENSOR_NAME_LEN 128
typedef struct aclmdlIODims {
    char name[ACL_MAX_TENSOR_NAME_LEN];
    size_t dimCount;
    int64_t dims[ACL_MAX_DIM_CNT];
} aclmdlIODims;
#endif

/* Error codes (aclError values) that amq interprets. */
enum {
    AMQ_ACL_SUCCESS = 0,
    AMQ_ACL_ERROR_INVALID_PARAM = 100000,
    AMQ_ACL_ERROR_UNINITIALIZE = 100001,
    AMQ_ACL_ERROR_REPEAT_INITIALIZE = 100002,
    AMQ_ACL_ERROR_INVALID_FILE = 100003,
    AMQ_ACL_ERROR_INVALID_MODEL_ID = 100011,
    AMQ_ACL_ERROR_COMPILING_STUB_MODE = 100039,
    AMQ_ACL_ERROR_RT_CONTEXT_NULL = 107002,
    AMQ_ACL_ERROR_BAD_ALLOC = 200000
};

/* aclDataType values. */
enum {
    AMQ_ACL_FLOAT = 0,
    AMQ_ACL_FLOAT16 = 1,
    AMQ_ACL_INT8 = 2,
    AMQ_ACL_INT32 = 3,
    AMQ_ACL_UINT8 = 4,
    AMQ_ACL_INT16 = 6,
    AMQ_ACL_UINT16 = 7,
    AMQ_ACL_UINT32 = 8,
    AMQ_ACL_INT64 = 9,
    AMQ_ACL_UINT64 = 10,
    AMQ_ACL_DOUBLE = 11,
    AMQ_ACL_BOOL = 12
};

/* aclrtMemcpyKind and aclrtMemMallocPolicy values. */
enum {
    AMQ_ACL_MEMCPY_HOST_TO_HOST = 0,
    AMQ_ACL_MEMCPY_HOST_TO_DEVICE = 1,
    AMQ_ACL_MEMCPY_DEVICE_TO_HOST = 2,
    AMQ_ACL_MEMCPY_DEVICE_TO_DEVICE = 3,
    AMQ_ACL_MEM_MALLOC_HUGE_FIRST = 0
};

/*
 * X-macro list of every ACL function amq calls: return type, name,
 * parameter list. It generates the function-pointer typedefs, the shim's
 * dlsym table and the header check, so the three cannot disagree.
 */
#define AMQ_ACL_FUNCS(X) \
    X(aclError, aclInit, (const char *configPath)) \
    X(aclError, aclFinalize, (void)) \
    X(aclError, aclrtGetDeviceCount, (uint32_t *count)) \
    X(aclError, aclrtSetDevice, (int32_t deviceId)) \
    X(aclError, aclrtResetDevice, (int32_t deviceId)) \
    X(aclError, aclrtCreateContext, (aclrtContext *context, int32_t deviceId)) \
    X(aclError, aclrtDestroyContext, (aclrtContext context)) \
    X(aclError, aclrtSetCurrentContext, (aclrtContext context)) \
    X(aclError, aclrtCreateStream, (aclrtStream *stream)) \
    X(aclError, aclrtDestroyStream, (aclrtStream stream)) \
    X(aclError, aclrtMalloc, (void **devPtr, size_t size, aclrtMemMallocPolicy policy)) \
    X(aclError, aclrtFree, (void *devPtr)) \
    X(aclError, aclrtMemcpy, (void *dst, size_t destMax, const void *src, size_t count, aclrtMemcpyKind kind)) \
    X(aclError, aclmdlLoadFromFile, (const char *modelPath, uint32_t *modelId)) \
    X(aclError, aclmdlLoadFromMem, (const void *model, size_t modelSize, uint32_t *modelId)) \
    X(aclError, aclmdlUnload, (uint32_t modelId)) \
    X(aclmdlDesc *, aclmdlCreateDesc, (void)) \
    X(aclError, aclmdlDestroyDesc, (aclmdlDesc *modelDesc)) \
    X(aclError, aclmdlGetDesc, (aclmdlDesc *modelDesc, uint32_t modelId)) \
    X(size_t, aclmdlGetNumInputs, (aclmdlDesc *modelDesc)) \
    X(size_t, aclmdlGetNumOutputs, (aclmdlDesc *modelDesc)) \
    X(size_t, aclmdlGetInputSizeByIndex, (aclmdlDesc *modelDesc, size_t index)) \
    X(size_t, aclmdlGetOutputSizeByIndex, (aclmdlDesc *modelDesc, size_t index)) \
    X(aclError, aclmdlGetInputDims, (const aclmdlDesc *modelDesc, size_t index, aclmdlIODims *dims)) \
    X(aclError, aclmdlGetOutputDims, (const aclmdlDesc *modelDesc, size_t index, aclmdlIODims *dims)) \
    X(const char *, aclmdlGetInputNameByIndex, (const aclmdlDesc *modelDesc, size_t index)) \
    X(const char *, aclmdlGetOutputNameByIndex, (const aclmdlDesc *modelDesc, size_t index)) \
    X(aclDataType, aclmdlGetInputDataType, (const aclmdlDesc *modelDesc, size_t index)) \
    X(aclDataType, aclmdlGetOutputDataType, (const aclmdlDesc *modelDesc, size_t index)) \
    X(aclmdlDataset *, aclmdlCreateDataset, (void)) \
    X(aclError, aclmdlDestroyDataset, (const aclmdlDataset *dataset)) \
    X(aclError, aclmdlAddDatasetBuffer, (aclmdlDataset *dataset, aclDataBuffer *dataBuffer)) \
    X(aclDataBuffer *, aclCreateDataBuffer, (void *data, size_t size)) \
    X(aclError, aclDestroyDataBuffer, (const aclDataBuffer *dataBuffer)) \
    X(aclError, aclmdlExecute, (uint32_t modelId, const aclmdlDataset *input, aclmdlDataset *output)) \
    X(const char *, aclGetRecentErrMsg, (void)) \
    X(const char *, aclrtGetSocName, (void))

#define AMQ_ACL_FN_TYPEDEF(ret, name, params) typedef ret(*amq_##name##_fn) params;
AMQ_ACL_FUNCS(AMQ_ACL_FN_TYPEDEF)
#undef AMQ_ACL_FN_TYPEDEF

#ifdef AMQ_CHECK_CANN_HEADERS
#define AMQ_ACL_FN_CHECK(ret, name, params) \
    _Static_assert(__builtin_types_compatible_p(amq_##name##_fn, __typeof__(&name)), \
                   "amq_acl_decls.h: signature of " #name " differs from CANN's header");
AMQ_ACL_FUNCS(AMQ_ACL_FN_CHECK)
#undef AMQ_ACL_FN_CHECK
#define AMQ_ACL_ENUM_CHECK(a, b) _Static_assert((a) == (b), "amq_acl_decls.h: " #a " != CANN's " #b);
AMQ_ACL_ENUM_CHECK(AMQ_ACL_SUCCESS, ACL_SUCCESS)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_ERROR_INVALID_PARAM, ACL_ERROR_INVALID_PARAM)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_ERROR_UNINITIALIZE, ACL_ERROR_UNINITIALIZE)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_ERROR_REPEAT_INITIALIZE, ACL_ERROR_REPEAT_INITIALIZE)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_ERROR_INVALID_FILE, ACL_ERROR_INVALID_FILE)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_ERROR_INVALID_MODEL_ID, ACL_ERROR_INVALID_MODEL_ID)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_ERROR_COMPILING_STUB_MODE, ACL_ERROR_COMPILING_STUB_MODE)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_ERROR_RT_CONTEXT_NULL, ACL_ERROR_RT_CONTEXT_NULL)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_ERROR_BAD_ALLOC, ACL_ERROR_BAD_ALLOC)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_FLOAT, ACL_FLOAT)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_FLOAT16, ACL_FLOAT16)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_INT8, ACL_INT8)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_INT32, ACL_INT32)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_UINT8, ACL_UINT8)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_INT16, ACL_INT16)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_UINT16, ACL_UINT16)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_UINT32, ACL_UINT32)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_INT64, ACL_INT64)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_UINT64, ACL_UINT64)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_DOUBLE, ACL_DOUBLE)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_BOOL, ACL_BOOL)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_MEMCPY_HOST_TO_DEVICE, ACL_MEMCPY_HOST_TO_DEVICE)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_MEMCPY_DEVICE_TO_HOST, ACL_MEMCPY_DEVICE_TO_HOST)
AMQ_ACL_ENUM_CHECK(AMQ_ACL_MEM_MALLOC_HUGE_FIRST, ACL_MEM_MALLOC_HUGE_FIRST)
#undef AMQ_ACL_ENUM_CHECK
#endif

#ifdef __cplusplus
}
#endif
#endif /* AMQ_ACL_DECLS_H */
