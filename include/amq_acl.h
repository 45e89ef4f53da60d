/*
 * amq_acl.h - the C API of amq's shim over CANN's ACL runtime.
 *
 * The shim is deliberately thin: it loads libascendcl.so at run time,
 * owns the ACL objects behind opaque handles and releases them in reverse
 * order on every path. Every call returns 0 or the failing ACL error code and
 * fills an amq_acl_status with the name of the failing ACL function and a
 * copy of aclGetRecentErrMsg() taken inside the failing call (the message
 * is per thread and overwritten by the next ACL call).
 *
 * Threads: ACL contexts are bound to OS threads. Every call that takes a
 * session or model makes the session's context current on the calling
 * thread first, so handles may be used from any thread, one call at a time.
 */
#ifndef AMQ_ACL_H
#define AMQ_ACL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Codes the shim uses for failures that are not ACL's. */
enum {
    AMQ_ERR_DLOPEN = -1,   /* the library could not be loaded */
    AMQ_ERR_DLSYM = -2,    /* a required symbol is missing */
    AMQ_ERR_ARG = -3,      /* bad argument to the shim */
    AMQ_ERR_NOMEM = -4,    /* host allocation failed */
    AMQ_ERR_NOT_OPEN = -5, /* amq_acl_open has not succeeded */
    AMQ_ERR_IO = -6        /* reading a model file failed */
};

/* amq_acl_status describes the last failure of a shim call. */
typedef struct amq_acl_status {
    int code;       /* ACL error code or AMQ_ERR_* */
    char func[64];  /* the ACL (or shim) function that failed */
    char msg[1024]; /* aclGetRecentErrMsg() or dlerror(), copied */
} amq_acl_status;

/* Longest input or output name the shim takes (with its NUL). ATC names
 * outputs "node:index:tensor", which passes ACL_MAX_TENSOR_NAME_LEN (128)
 * in exported LLMs; a longer name fails the load instead of being cut. */
#define AMQ_ACL_NAME_MAX 1024

/* amq_acl_io describes one model input or output. */
typedef struct amq_acl_io {
    char name[AMQ_ACL_NAME_MAX];
    int dtype; /* aclDataType */
    size_t size; /* bytes */
    size_t ndims;
    int64_t dims[128];
} amq_acl_io;

typedef struct amq_acl_session amq_acl_session;
typedef struct amq_acl_model amq_acl_model;

/*
 * amq_acl_open loads the ACL library at path (the Go side finds it:
 * cann.FindLibrary, the one search order) and calls aclInit once per
 * process. Later calls return the first call's result. The path actually
 * used is copied to used (may be NULL).
 */
int amq_acl_open(const char *path, char *used, size_t used_len, amq_acl_status *st);

/* amq_acl_close calls aclFinalize; the library stays mapped. */
int amq_acl_close(amq_acl_status *st);

/* amq_acl_sym returns a symbol of the loaded library, or NULL. */
void *amq_acl_sym(const char *name);

/* amq_acl_device_count reports aclrtGetDeviceCount. */
int amq_acl_device_count(uint32_t *count, amq_acl_status *st);

/* amq_acl_soc_name copies aclrtGetSocName() (empty when unknown). */
int amq_acl_soc_name(char *buf, size_t len, amq_acl_status *st);

/* amq_acl_session_open sets the device and creates a context and a stream. */
int amq_acl_session_open(int32_t device, amq_acl_session **out, amq_acl_status *st);

/* amq_acl_session_close destroys the stream and context and resets the device. */
int amq_acl_session_close(amq_acl_session *s, amq_acl_status *st);

/*
 * amq_acl_model_load loads an offline model (.om) from a file (data NULL)
 * or from memory, reads its I/O description and allocates device buffers
 * and datasets for every input and output.
 */
int amq_acl_model_load(amq_acl_session *s, const char *path, const void *data, size_t size,
                       amq_acl_model **out, amq_acl_status *st);

/* amq_acl_model_num_io returns the number of inputs (output==0) or outputs. */
size_t amq_acl_model_num_io(const amq_acl_model *m, int output);

/* amq_acl_model_io copies the description of input or output index. */
int amq_acl_model_io(const amq_acl_model *m, int output, size_t index, amq_acl_io *io);

/*
 * amq_acl_model_execute copies the inputs to the device, runs the model
 * and copies every output back. Buffer sizes must equal the model's sizes.
 */
int amq_acl_model_execute(amq_acl_model *m, const void *const *in, const size_t *in_sizes,
                          void *const *out, const size_t *out_sizes, amq_acl_status *st);

/* amq_acl_model_unload frees the buffers and datasets and unloads the model. */
int amq_acl_model_unload(amq_acl_model *m, amq_acl_status *st);

#ifdef __cplusplus
}
#endif
#endif /* AMQ_ACL_H */
