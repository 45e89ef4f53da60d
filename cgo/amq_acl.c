/*
 * amq_acl.c - amq's shim over CANN's ACL runtime (see include/amq_acl.h).
 *
 * libascendcl.so is loaded with dlopen at run time, so amq builds and runs
 * without CANN and only needs -ldl. Every resource has exactly one freeing
 * path (session_free, model_free), used both on error and on close.
 */
#define _GNU_SOURCE
#include "amq_acl.h"
#include "amq_acl_decls.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
#define AMQ_FIELD(ret, name, params) amq_##name##_fn name;
    AMQ_ACL_FUNCS(AMQ_FIELD)
#undef AMQ_FIELD
} acl;

static pthread_mutex_t open_mu = PTHREAD_MUTEX_INITIALIZER;
static void *lib;
static int open_done;      /* amq_acl_open has run to completion once */
static int open_rc;        /* its result */
static amq_acl_status open_st;
static char open_path[4096];
static int finalized;

static void set_status(amq_acl_status *st, int code, const char *func, const char *msg) {
    if (st == NULL)
        return;
    st->code = code;
    snprintf(st->func, sizeof st->func, "%s", func ? func : "");
    snprintf(st->msg, sizeof st->msg, "%s", msg ? msg : "");
}

/* acl_fail records a failed ACL call, copying the thread's recent ACL
 * error message before any other ACL call can overwrite it. */
static int acl_fail(amq_acl_status *st, int code, const char *func) {
    const char *m = NULL;
    if (acl.aclGetRecentErrMsg != NULL)
        m = acl.aclGetRecentErrMsg();
    set_status(st, code, func, m);
    return code;
}

#define CALL(st, fn, args)                       \
    do {                                         \
        aclError rc_ = acl.fn args;              \
        if (rc_ != AMQ_ACL_SUCCESS)              \
            return acl_fail((st), rc_, #fn);     \
    } while (0)

static int do_open(const char *path) {
    /* The search order lives in one place, cann.FindLibrary (Go). */
    if (path == NULL || path[0] == '\0') {
        set_status(&open_st, AMQ_ERR_DLOPEN, "dlopen", "no library path given");
        return AMQ_ERR_DLOPEN;
    }
    snprintf(open_path, sizeof open_path, "%s", path);
    lib = dlopen(open_path, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        set_status(&open_st, AMQ_ERR_DLOPEN, "dlopen", dlerror());
        return AMQ_ERR_DLOPEN;
    }
#define AMQ_SYM(ret, name, params)                                        \
    acl.name = (amq_##name##_fn)dlsym(lib, #name);                        \
    if (acl.name == NULL) {                                               \
        char m_[sizeof open_path + 128];                                                  \
        snprintf(m_, sizeof m_, "%s: symbol %s not found", open_path, #name); \
        set_status(&open_st, AMQ_ERR_DLSYM, "dlsym", m_);                 \
        memset(&acl, 0, sizeof acl);                                      \
        dlclose(lib);                                                     \
        lib = NULL;                                                       \
        return AMQ_ERR_DLSYM;                                             \
    }
    AMQ_ACL_FUNCS(AMQ_SYM)
#undef AMQ_SYM
    aclError rc = acl.aclInit(NULL);
    if (rc != AMQ_ACL_SUCCESS && rc != AMQ_ACL_ERROR_REPEAT_INITIALIZE)
        return acl_fail(&open_st, rc, "aclInit");
    return 0;
}

int amq_acl_open(const char *path, char *used, size_t used_len, amq_acl_status *st) {
    pthread_mutex_lock(&open_mu);
    if (!open_done) {
        open_rc = do_open(path);
        open_done = 1;
    }
    int rc = open_rc;
    if (used != NULL && used_len > 0)
        snprintf(used, used_len, "%s", open_path);
    if (rc != 0 && st != NULL)
        *st = open_st;
    pthread_mutex_unlock(&open_mu);
    return rc;
}

/* ready reports whether ACL calls may be made. */
static int ready(amq_acl_status *st) {
    pthread_mutex_lock(&open_mu);
    int ok = open_done && open_rc == 0 && !finalized;
    pthread_mutex_unlock(&open_mu);
    if (!ok) {
        set_status(st, AMQ_ERR_NOT_OPEN, "amq_acl_open", "ACL library is not open (or already finalized)");
        return AMQ_ERR_NOT_OPEN;
    }
    return 0;
}

int amq_acl_close(amq_acl_status *st) {
    int rc = ready(st);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&open_mu);
    finalized = 1;
    pthread_mutex_unlock(&open_mu);
    CALL(st, aclFinalize, ());
    return 0;
}

void *amq_acl_sym(const char *name) {
    pthread_mutex_lock(&open_mu);
    void *p = lib != NULL ? dlsym(lib, name) : NULL;
    pthread_mutex_unlock(&open_mu);
    return p;
}

int amq_acl_device_count(uint32_t *count, amq_acl_status *st) {
    int rc = ready(st);
    if (rc != 0)
        return rc;
    CALL(st, aclrtGetDeviceCount, (count));
    return 0;
}

int amq_acl_soc_name(char *buf, size_t len, amq_acl_status *st) {
    int rc = ready(st);
    if (rc != 0)
        return rc;
    const char *n = acl.aclrtGetSocName();
    snprintf(buf, len, "%s", n ? n : "");
    return 0;
}

struct amq_acl_session {
    int32_t device;
    int device_set;
    aclrtContext ctx;
    aclrtStream stream;
};

/* session_free releases what s holds, in reverse order of creation, and
 * reports the first failure (but keeps releasing). */
static int session_free(amq_acl_session *s, amq_acl_status *st) {
    int first = 0;
    aclError rc;
    if (s->ctx != NULL && (rc = acl.aclrtSetCurrentContext(s->ctx)) != AMQ_ACL_SUCCESS && first == 0)
        first = acl_fail(st, rc, "aclrtSetCurrentContext");
    if (s->stream != NULL && (rc = acl.aclrtDestroyStream(s->stream)) != AMQ_ACL_SUCCESS && first == 0)
        first = acl_fail(st, rc, "aclrtDestroyStream");
    if (s->ctx != NULL && (rc = acl.aclrtDestroyContext(s->ctx)) != AMQ_ACL_SUCCESS && first == 0)
        first = acl_fail(st, rc, "aclrtDestroyContext");
    if (s->device_set && (rc = acl.aclrtResetDevice(s->device)) != AMQ_ACL_SUCCESS && first == 0)
        first = acl_fail(st, rc, "aclrtResetDevice");
    free(s);
    return first;
}

static int session_init(amq_acl_session *s, amq_acl_status *st) {
    CALL(st, aclrtSetDevice, (s->device));
    s->device_set = 1;
    CALL(st, aclrtCreateContext, (&s->ctx, s->device));
    CALL(st, aclrtCreateStream, (&s->stream));
    return 0;
}

int amq_acl_session_open(int32_t device, amq_acl_session **out, amq_acl_status *st) {
    int rc = ready(st);
    if (rc != 0)
        return rc;
    amq_acl_session *s = calloc(1, sizeof *s);
    if (s == NULL) {
        set_status(st, AMQ_ERR_NOMEM, "calloc", "out of host memory");
        return AMQ_ERR_NOMEM;
    }
    s->device = device;
    if ((rc = session_init(s, st)) != 0) {
        session_free(s, NULL); /* keep the original error */
        return rc;
    }
    *out = s;
    return 0;
}

int amq_acl_session_close(amq_acl_session *s, amq_acl_status *st) {
    if (s == NULL)
        return 0;
    return session_free(s, st);
}

struct amq_acl_model {
    amq_acl_session *s;
    uint32_t id;
    int loaded;
    aclmdlDesc *desc;
    size_t nin, nout;
    amq_acl_io *io;        /* nin inputs, then nout outputs */
    void **dev;            /* device buffer per io entry */
    aclDataBuffer **bufs;  /* data buffer per io entry */
    aclmdlDataset *in_ds, *out_ds;
};

static int model_free(amq_acl_model *m, amq_acl_status *st) {
    int first = 0;
    aclError rc;
    size_t n = m->nin + m->nout;
#define REL(cond, expr, name)                                            \
    if ((cond) && (rc = (expr)) != AMQ_ACL_SUCCESS && first == 0)        \
        first = acl_fail(st, rc, name);
    REL(1, acl.aclrtSetCurrentContext(m->s->ctx), "aclrtSetCurrentContext")
    REL(m->out_ds != NULL, acl.aclmdlDestroyDataset(m->out_ds), "aclmdlDestroyDataset")
    REL(m->in_ds != NULL, acl.aclmdlDestroyDataset(m->in_ds), "aclmdlDestroyDataset")
    for (size_t i = 0; m->bufs != NULL && i < n; i++) {
        REL(m->bufs[i] != NULL, acl.aclDestroyDataBuffer(m->bufs[i]), "aclDestroyDataBuffer")
    }
    for (size_t i = 0; m->dev != NULL && i < n; i++) {
        REL(m->dev[i] != NULL, acl.aclrtFree(m->dev[i]), "aclrtFree")
    }
    REL(m->desc != NULL, acl.aclmdlDestroyDesc(m->desc), "aclmdlDestroyDesc")
    REL(m->loaded, acl.aclmdlUnload(m->id), "aclmdlUnload")
#undef REL
    free(m->bufs);
    free(m->dev);
    free(m->io);
    free(m);
    return first;
}

static int read_io(amq_acl_model *m, int output, size_t i, amq_acl_status *st) {
    amq_acl_io *io = &m->io[output ? m->nin + i : i];
    aclmdlIODims d;
    memset(&d, 0, sizeof d);
    const char *n;
    if (output) {
        CALL(st, aclmdlGetOutputDims, (m->desc, i, &d));
        io->size = acl.aclmdlGetOutputSizeByIndex(m->desc, i);
        io->dtype = acl.aclmdlGetOutputDataType(m->desc, i);
        n = acl.aclmdlGetOutputNameByIndex(m->desc, i);
    } else {
        CALL(st, aclmdlGetInputDims, (m->desc, i, &d));
        io->size = acl.aclmdlGetInputSizeByIndex(m->desc, i);
        io->dtype = acl.aclmdlGetInputDataType(m->desc, i);
        n = acl.aclmdlGetInputNameByIndex(m->desc, i);
    }
    /* The backend maps I/O by name: a cut name would match nothing. */
    if (n == NULL)
        n = d.name;
    if (snprintf(io->name, sizeof io->name, "%s", n) >= (int)sizeof io->name) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s %zu: name of %zu bytes is longer than amq's limit of %d",
                 output ? "output" : "input", i, strlen(n), AMQ_ACL_NAME_MAX - 1);
        set_status(st, AMQ_ERR_ARG, output ? "aclmdlGetOutputNameByIndex" : "aclmdlGetInputNameByIndex", msg);
        return AMQ_ERR_ARG;
    }
    if (d.dimCount > ACL_MAX_DIM_CNT) {
        set_status(st, AMQ_ERR_ARG, output ? "aclmdlGetOutputDims" : "aclmdlGetInputDims",
                   "dimension count out of range");
        return AMQ_ERR_ARG;
    }
    io->ndims = d.dimCount;
    memcpy(io->dims, d.dims, d.dimCount * sizeof d.dims[0]);
    return 0;
}

static int model_init(amq_acl_model *m, const char *path, const void *data, size_t size,
                      amq_acl_status *st) {
    CALL(st, aclrtSetCurrentContext, (m->s->ctx));
    if (data != NULL)
        CALL(st, aclmdlLoadFromMem, (data, size, &m->id));
    else
        CALL(st, aclmdlLoadFromFile, (path, &m->id));
    m->loaded = 1;
    m->desc = acl.aclmdlCreateDesc();
    if (m->desc == NULL)
        return acl_fail(st, AMQ_ACL_ERROR_BAD_ALLOC, "aclmdlCreateDesc");
    CALL(st, aclmdlGetDesc, (m->desc, m->id));
    m->nin = acl.aclmdlGetNumInputs(m->desc);
    m->nout = acl.aclmdlGetNumOutputs(m->desc);
    size_t n = m->nin + m->nout;
    m->io = calloc(n ? n : 1, sizeof *m->io);
    m->dev = calloc(n ? n : 1, sizeof *m->dev);
    m->bufs = calloc(n ? n : 1, sizeof *m->bufs);
    if (m->io == NULL || m->dev == NULL || m->bufs == NULL) {
        set_status(st, AMQ_ERR_NOMEM, "calloc", "out of host memory");
        return AMQ_ERR_NOMEM;
    }
    int rc;
    for (size_t i = 0; i < m->nin; i++)
        if ((rc = read_io(m, 0, i, st)) != 0)
            return rc;
    for (size_t i = 0; i < m->nout; i++)
        if ((rc = read_io(m, 1, i, st)) != 0)
            return rc;
    m->in_ds = acl.aclmdlCreateDataset();
    if (m->in_ds == NULL)
        return acl_fail(st, AMQ_ACL_ERROR_BAD_ALLOC, "aclmdlCreateDataset");
    m->out_ds = acl.aclmdlCreateDataset();
    if (m->out_ds == NULL)
        return acl_fail(st, AMQ_ACL_ERROR_BAD_ALLOC, "aclmdlCreateDataset");
    for (size_t i = 0; i < n; i++) {
        /* ACL rejects zero-sized allocations; a 1-byte buffer stands in. */
        size_t sz = m->io[i].size ? m->io[i].size : 1;
        CALL(st, aclrtMalloc, (&m->dev[i], sz, (aclrtMemMallocPolicy)AMQ_ACL_MEM_MALLOC_HUGE_FIRST));
        m->bufs[i] = acl.aclCreateDataBuffer(m->dev[i], m->io[i].size);
        if (m->bufs[i] == NULL)
            return acl_fail(st, AMQ_ACL_ERROR_BAD_ALLOC, "aclCreateDataBuffer");
        aclmdlDataset *ds = i < m->nin ? m->in_ds : m->out_ds;
        aclError rc2 = acl.aclmdlAddDatasetBuffer(ds, m->bufs[i]);
        if (rc2 != AMQ_ACL_SUCCESS) {
            /* A buffer the dataset did not take is still ours to free. */
            return acl_fail(st, rc2, "aclmdlAddDatasetBuffer");
        }
    }
    return 0;
}

int amq_acl_model_load(amq_acl_session *s, const char *path, const void *data, size_t size,
                       amq_acl_model **out, amq_acl_status *st) {
    int rc = ready(st);
    if (rc != 0)
        return rc;
    if (s == NULL || (path == NULL && data == NULL)) {
        set_status(st, AMQ_ERR_ARG, "amq_acl_model_load", "no session or no model");
        return AMQ_ERR_ARG;
    }
    amq_acl_model *m = calloc(1, sizeof *m);
    if (m == NULL) {
        set_status(st, AMQ_ERR_NOMEM, "calloc", "out of host memory");
        return AMQ_ERR_NOMEM;
    }
    m->s = s;
    if ((rc = model_init(m, path, data, size, st)) != 0) {
        model_free(m, NULL);
        return rc;
    }
    *out = m;
    return 0;
}

size_t amq_acl_model_num_io(const amq_acl_model *m, int output) {
    return output ? m->nout : m->nin;
}

int amq_acl_model_io(const amq_acl_model *m, int output, size_t index, amq_acl_io *io) {
    size_t n = output ? m->nout : m->nin;
    if (index >= n)
        return AMQ_ERR_ARG;
    *io = m->io[output ? m->nin + index : index];
    return 0;
}

int amq_acl_model_execute(amq_acl_model *m, const void *const *in, const size_t *in_sizes,
                          void *const *out, const size_t *out_sizes, amq_acl_status *st) {
    int rc = ready(st);
    if (rc != 0)
        return rc;
    CALL(st, aclrtSetCurrentContext, (m->s->ctx));
    for (size_t i = 0; i < m->nin; i++) {
        if (in_sizes[i] != m->io[i].size) {
            char msg[AMQ_ACL_NAME_MAX + 128];
            snprintf(msg, sizeof msg, "input %zu (%s): %zu bytes given, model expects %zu", i,
                     m->io[i].name, in_sizes[i], m->io[i].size);
            set_status(st, AMQ_ERR_ARG, "amq_acl_model_execute", msg);
            return AMQ_ERR_ARG;
        }
        if (in_sizes[i] > 0)
            CALL(st, aclrtMemcpy,
                 (m->dev[i], m->io[i].size, in[i], in_sizes[i], (aclrtMemcpyKind)AMQ_ACL_MEMCPY_HOST_TO_DEVICE));
    }
    for (size_t i = 0; i < m->nout; i++) {
        if (out_sizes[i] != m->io[m->nin + i].size) {
            char msg[AMQ_ACL_NAME_MAX + 128];
            snprintf(msg, sizeof msg, "output %zu (%s): %zu bytes given, model expects %zu", i,
                     m->io[m->nin + i].name, out_sizes[i], m->io[m->nin + i].size);
            set_status(st, AMQ_ERR_ARG, "amq_acl_model_execute", msg);
            return AMQ_ERR_ARG;
        }
    }
    CALL(st, aclmdlExecute, (m->id, m->in_ds, m->out_ds));
    for (size_t i = 0; i < m->nout; i++) {
        size_t k = m->nin + i;
        if (out_sizes[i] > 0)
            CALL(st, aclrtMemcpy, (out[i], out_sizes[i], m->dev[k], m->io[k].size,
                                   (aclrtMemcpyKind)AMQ_ACL_MEMCPY_DEVICE_TO_HOST));
    }
    return 0;
}

int amq_acl_model_unload(amq_acl_model *m, amq_acl_status *st) {
    if (m == NULL)
        return 0;
    int rc = ready(st);
    if (rc != 0)
        return rc;
    return model_free(m, st);
}
