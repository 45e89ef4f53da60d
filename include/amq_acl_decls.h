/*
 * amq_acl_decls.h - amq's own declarations of the part of CANN's ACL C API
 * (acl.h, acl_base_rt.h, acl_rt.h, acl_mdl.h) that amq uses.
 *
 * amq never needs CANN at build time: the shim loads libascendcl.so with
 * dlopen and calls it through the function-pointer types below. The fake
 * runtime used in tests implements the same functions against these
 * declarations.
 *
 * Header check: compiled with -DAMQ_CHECK_CANN_HEADERS and CANN's include
 * folder on the include path, the ACL types come from CANN's own acl/acl.h
 * and the declarations below are compared with CANN's:
 *   - in C (the shim, the fake), every function-pointer type against the
 *     type of CANN's function, with _Static_assert;
 *   - in C++ (cgo/cann_header_check.cc), the functions again, every value
 *     and the scalar types and aclmdlIODims' layout, with static_assert.
 *     The values are C++-only because CANN declares its error codes as
 *     `static const int ACL_SUCCESS = 0;`, which is not a constant
 *     expression in C.
 * scripts/check-cann-headers.sh runs both against a folder of CANN headers
 * (or CMake with -DAMQ_CANN_INCLUDE=<dir>); the README's board section
 * records which hicann/runtime and hicann/ge commits passed.
 */
#ifndef AMQ_ACL_DECLS_H
#define AMQ_ACL_DECLS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * X-macro list of the ACL values amq uses: X(NAME, value) declares
 * AMQ_ACL_NAME = value, which the header check compares with CANN's
 * ACL_NAME.
 */
#define AMQ_ACL_VALUES(X) \
    /* error codes (aclError) */ \
    X(SUCCESS, 0) \
    X(ERROR_INVALID_PARAM, 100000) \
    X(ERROR_UNINITIALIZE, 100001) \
    X(ERROR_REPEAT_INITIALIZE, 100002) \
    X(ERROR_INVALID_FILE, 100003) \
    X(ERROR_INVALID_MODEL_ID, 100011) \
    X(ERROR_COMPILING_STUB_MODE, 100039) /* what CANN's stub library returns */ \
    X(ERROR_RT_CONTEXT_NULL, 107002) \
    X(ERROR_BAD_ALLOC, 200000) \
    /* aclDataType */ \
    X(FLOAT, 0) \
    X(FLOAT16, 1) \
    X(INT8, 2) \
    X(INT32, 3) \
    X(UINT8, 4) \
    X(INT16, 6) \
    X(UINT16, 7) \
    X(UINT32, 8) \
    X(INT64, 9) \
    X(UINT64, 10) \
    X(DOUBLE, 11) \
    X(BOOL, 12) \
    /* aclrtMemcpyKind, aclrtMemMallocPolicy */ \
    X(MEMCPY_HOST_TO_HOST, 0) \
    X(MEMCPY_HOST_TO_DEVICE, 1) \
    X(MEMCPY_DEVICE_TO_HOST, 2) \
    X(MEMCPY_DEVICE_TO_DEVICE, 3) \
    X(MEM_MALLOC_HUGE_FIRST, 0) \
    /* aclmdlIODims' array lengths */ \
    X(MAX_DIM_CNT, 128) \
    X(MAX_TENSOR_NAME_LEN, 128)

#define AMQ_ACL_ENUM(name, value) AMQ_ACL_##name = value,
enum { AMQ_ACL_VALUES(AMQ_ACL_ENUM) };
#undef AMQ_ACL_ENUM

/*
 * X-macro list of the scalar ACL types: X(name, amq's type). CANN's enums
 * (aclDataType, ...) are passed as int, which the check holds them to.
 */
#define AMQ_ACL_TYPES(X) \
    X(aclError, int) \
    X(aclDataType, int) \
    X(aclrtMemMallocPolicy, int) \
    X(aclrtMemcpyKind, int) \
    X(aclrtContext, void *) \
    X(aclrtStream, void *)

/* amq's aclmdlIODims, under its own name so that the check can compare its
 * layout with CANN's. */
typedef struct amq_aclmdlIODims {
    char name[AMQ_ACL_MAX_TENSOR_NAME_LEN];
    size_t dimCount;
    int64_t dims[AMQ_ACL_MAX_DIM_CNT];
} amq_aclmdlIODims;

#ifdef AMQ_CHECK_CANN_HEADERS
#include <acl/acl.h>
#else
#define AMQ_ACL_TYPEDEF(name, type) typedef type name;
AMQ_ACL_TYPES(AMQ_ACL_TYPEDEF)
#undef AMQ_ACL_TYPEDEF
typedef struct aclmdlDesc aclmdlDesc;
typedef struct aclmdlDataset aclmdlDataset;
typedef struct aclDataBuffer aclDataBuffer;
typedef amq_aclmdlIODims aclmdlIODims;
#define ACL_MAX_DIM_CNT AMQ_ACL_MAX_DIM_CNT
#define ACL_MAX_TENSOR_NAME_LEN AMQ_ACL_MAX_TENSOR_NAME_LEN
#endif

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

#if defined(AMQ_CHECK_CANN_HEADERS) && !defined(__cplusplus)
/* C: function types only (see above; cgo/cann_header_check.cc does the rest). */
#define AMQ_ACL_FN_CHECK(ret, name, params) \
    _Static_assert(__builtin_types_compatible_p(amq_##name##_fn, __typeof__(&name)), \
                   "amq_acl_decls.h: signature of " #name " differs from CANN's header");
AMQ_ACL_FUNCS(AMQ_ACL_FN_CHECK)
#undef AMQ_ACL_FN_CHECK
#endif

#ifdef __cplusplus
}
#endif
#endif /* AMQ_ACL_DECLS_H */
