/*
 * fake_acl.c - a fake libascendcl.so for amq's tests.
 *
 * It implements the ACL functions amq uses (include/amq_acl_decls.h) on
 * host memory and checks their use the way the real runtime does: calls
 * before aclInit, unknown or freed handles, sizes that do not match, and
 * calls without a current context on the calling OS thread (ACL contexts
 * are per thread) fail with ACL's error codes. Every resource is tracked,
 * so that leaks are reported at aclFinalize and through amq_fake_leaks.
 * aclmdlExecute runs the model through an executor registered from Go
 * (amq_fake_set_executor), which runs the ONNX payload on sim.
 */
#define _GNU_SOURCE
#include "amq_acl_decls.h"
#include "amq_fake.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

enum kind { R_MEM, R_CTX, R_STREAM, R_MODEL, R_DESC, R_DATASET, R_DATABUF, R_DEVICE };
static const char *kind_names[] = {"device memory", "context", "stream", "model",
                                   "model description", "dataset", "data buffer", "device"};

typedef struct res {
    enum kind kind;
    void *ptr;    /* the handle (or memory) */
    size_t size;  /* bytes for R_MEM */
    int32_t device;
    uint32_t id;  /* model id, device id */
    int refs;     /* aclrtSetDevice count for R_DEVICE */
    struct res *next;
} res;

typedef struct io_desc {
    char name[2048]; /* what the name getters return; aclmdlIODims gets 127 bytes of it */
    int dtype;
    size_t ndims;
    int64_t dims[ACL_MAX_DIM_CNT];
    size_t size;
} io_desc;

typedef struct fake_model {
    size_t nin, nout;
    io_desc *io; /* nin inputs then nout outputs */
    unsigned char *payload;
    size_t payload_len;
} fake_model;

struct aclmdlDesc {
    fake_model m; /* a copy, filled by aclmdlGetDesc */
    int filled;
};

struct aclmdlDataset {
    size_t n, cap;
    aclDataBuffer **bufs;
};

struct aclDataBuffer {
    void *data;
    size_t size;
};

typedef struct fake_ctx {
    int32_t device;
} fake_ctx;

typedef struct fault {
    char func[64];
    int countdown;
    int code;
    char msg[256];
} fault;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int initialized;
static res *live;
static uint32_t next_model_id = 1;
static fault faults[32];
static int nfaults;
static double drift;
static amq_fake_exec_fn executor;
static uintptr_t executor_user;

/* Code for a model that fails while executing: the fake's choice (the
 * real runtime reports GE/RT codes in the 5xxxxx range). */
#define FAKE_EXEC_FAILED 500002

static __thread fake_ctx *cur_ctx;
static __thread char err_msg[1024];

/* Call counters, one per ACL function. */
static const char *func_names[] = {
#define NAME(ret, name, params) #name,
    AMQ_ACL_FUNCS(NAME)
#undef NAME
};
#define NFUNCS (sizeof func_names / sizeof func_names[0])
static uint64_t calls[NFUNCS];

static int func_index(const char *f) {
    for (size_t i = 0; i < NFUNCS; i++)
        if (strcmp(func_names[i], f) == 0)
            return (int)i;
    return -1;
}

/* fail sets the thread's error message and returns code. Called with or
 * without mu held (it touches only thread-local state). */
static int fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    return code;
}

/* enter counts a call of func and applies any injected fault; it returns
 * the fault's error code or 0. Called with mu held. */
static int enter(const char *func) {
    int i = func_index(func);
    if (i >= 0)
        calls[i]++;
    for (int k = 0; k < nfaults; k++) {
        if (strcmp(faults[k].func, func) != 0 || faults[k].countdown <= 0)
            continue;
        if (--faults[k].countdown == 0)
            return fail(faults[k].code, "%s", faults[k].msg);
    }
    return 0;
}

static res *find(enum kind k, const void *p) {
    for (res *r = live; r != NULL; r = r->next)
        if (r->kind == k && r->ptr == p)
            return r;
    return NULL;
}

/* find_mem returns the device allocation that contains [p, p+n). */
static res *find_mem(const void *p, size_t n) {
    const char *c = p;
    for (res *r = live; r != NULL; r = r->next) {
        if (r->kind != R_MEM)
            continue;
        const char *b = r->ptr;
        if (c >= b && c <= b + r->size && n <= (size_t)(b + r->size - c))
            return r;
    }
    return NULL;
}

static res *track(enum kind k, void *p) {
    res *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->kind = k;
    r->ptr = p;
    r->next = live;
    live = r;
    return r;
}

static void untrack(res *r) {
    for (res **pp = &live; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            free(r);
            return;
        }
    }
}

static int num_devices(void) {
    const char *e = getenv("AMQ_FAKE_DEVICES");
    int n = e != NULL ? atoi(e) : 2;
    return n > 0 ? n : 0;
}

/* Common prologue: lock, count, inject faults, require aclInit. */
#define BEGIN(name)                                                        \
    pthread_mutex_lock(&mu);                                               \
    int rc_ = enter(name);                                                 \
    if (rc_ == 0 && !initialized)                                          \
        rc_ = fail(AMQ_ACL_ERROR_UNINITIALIZE, "%s: aclInit has not been called", name); \
    if (rc_ != 0) {                                                        \
        pthread_mutex_unlock(&mu);                                         \
        return rc_;                                                        \
    }
#define RETURN(v)                   \
    do {                            \
        pthread_mutex_unlock(&mu);  \
        return (v);                 \
    } while (0)
/* Functions returning pointers or sizes report failure as NULL / 0. */
#define BEGIN_VAL(name, failval)                                           \
    pthread_mutex_lock(&mu);                                               \
    if (enter(name) != 0) {                                                \
        pthread_mutex_unlock(&mu);                                         \
        return failval;                                                    \
    }                                                                      \
    if (!initialized) {                                                    \
        fail(AMQ_ACL_ERROR_UNINITIALIZE, "%s: aclInit has not been called", name); \
        pthread_mutex_unlock(&mu);                                         \
        return failval;                                                    \
    }

static int need_ctx(const char *name) {
    if (cur_ctx == NULL)
        return fail(AMQ_ACL_ERROR_RT_CONTEXT_NULL, "%s: no current context on this thread", name);
    if (find(R_CTX, cur_ctx) == NULL)
        return fail(AMQ_ACL_ERROR_RT_CONTEXT_NULL, "%s: the current context was destroyed", name);
    return 0;
}

static void parse_fault_env(void) {
    const char *e = getenv("AMQ_FAKE_FAIL");
    if (e == NULL || *e == '\0')
        return;
    char *s = strdup(e), *save = NULL;
    if (s == NULL)
        return;
    for (char *tok = strtok_r(s, ";", &save); tok != NULL; tok = strtok_r(NULL, ";", &save)) {
        char func[64] = "", msg[256] = "";
        int nth = 0, code = 0;
        if (sscanf(tok, "%63[^:]:%d:%d:%255[^\n]", func, &nth, &code, msg) >= 3 && nfaults < 32) {
            fault *f = &faults[nfaults++];
            snprintf(f->func, sizeof f->func, "%s", func);
            f->countdown = nth;
            f->code = code;
            snprintf(f->msg, sizeof f->msg, "%s", msg);
        }
    }
    free(s);
    const char *d = getenv("AMQ_FAKE_DRIFT");
    if (d != NULL && *d != '\0')
        drift = atof(d);
}

static int leak_report(char *buf, size_t len) {
    int n = 0;
    size_t off = 0;
    if (buf != NULL && len > 0)
        buf[0] = '\0';
    for (res *r = live; r != NULL; r = r->next) {
        n++;
        if (buf == NULL || off >= len)
            continue;
        int w;
        switch (r->kind) {
        case R_MEM:
            w = snprintf(buf + off, len - off, "%s: %zu bytes at %p\n", kind_names[r->kind], r->size, r->ptr);
            break;
        case R_MODEL:
            w = snprintf(buf + off, len - off, "%s: id %u\n", kind_names[r->kind], r->id);
            break;
        case R_DEVICE:
            w = snprintf(buf + off, len - off, "%s: %u set %d time(s), not reset\n", kind_names[r->kind], r->id, r->refs);
            break;
        default:
            w = snprintf(buf + off, len - off, "%s: %p\n", kind_names[r->kind], r->ptr);
        }
        if (w > 0)
            off += (size_t)w;
    }
    return n;
}

EXPORT aclError aclInit(const char *configPath) {
    (void)configPath;
    pthread_mutex_lock(&mu);
    if (!initialized)
        parse_fault_env();
    int rc = enter("aclInit");
    if (rc == 0 && initialized)
        rc = fail(AMQ_ACL_ERROR_REPEAT_INITIALIZE, "aclInit: already initialized");
    if (rc == 0)
        initialized = 1;
    RETURN(rc);
}

EXPORT aclError aclFinalize(void) {
    BEGIN("aclFinalize");
    char buf[4096];
    int n = leak_report(buf, sizeof buf);
    if (n > 0)
        fprintf(stderr, "fake libascendcl: %d resource(s) leaked at aclFinalize:\n%s", n, buf);
    initialized = 0;
    RETURN(0);
}

EXPORT aclError aclrtGetDeviceCount(uint32_t *count) {
    BEGIN("aclrtGetDeviceCount");
    if (count == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclrtGetDeviceCount: count is NULL"));
    *count = (uint32_t)num_devices();
    RETURN(0);
}

static res *find_device(int32_t d) {
    for (res *r = live; r != NULL; r = r->next)
        if (r->kind == R_DEVICE && r->id == (uint32_t)d)
            return r;
    return NULL;
}

EXPORT aclError aclrtSetDevice(int32_t deviceId) {
    BEGIN("aclrtSetDevice");
    if (deviceId < 0 || deviceId >= num_devices())
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclrtSetDevice: device %d does not exist (%d devices)", deviceId, num_devices()));
    res *r = find_device(deviceId);
    if (r == NULL) {
        r = track(R_DEVICE, NULL);
        if (r == NULL)
            RETURN(fail(AMQ_ACL_ERROR_BAD_ALLOC, "aclrtSetDevice: out of memory"));
        r->id = (uint32_t)deviceId;
    }
    r->refs++;
    RETURN(0);
}

EXPORT aclError aclrtResetDevice(int32_t deviceId) {
    BEGIN("aclrtResetDevice");
    res *r = find_device(deviceId);
    if (r == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclrtResetDevice: device %d was not set", deviceId));
    if (--r->refs == 0)
        untrack(r);
    RETURN(0);
}

EXPORT aclError aclrtCreateContext(aclrtContext *context, int32_t deviceId) {
    BEGIN("aclrtCreateContext");
    if (context == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclrtCreateContext: context is NULL"));
    if (find_device(deviceId) == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclrtCreateContext: device %d is not set (call aclrtSetDevice)", deviceId));
    fake_ctx *c = calloc(1, sizeof *c);
    if (c == NULL || track(R_CTX, c) == NULL) {
        free(c);
        RETURN(fail(AMQ_ACL_ERROR_BAD_ALLOC, "aclrtCreateContext: out of memory"));
    }
    c->device = deviceId;
    cur_ctx = c; /* as in ACL, the new context becomes current on this thread */
    *context = c;
    RETURN(0);
}

EXPORT aclError aclrtDestroyContext(aclrtContext context) {
    BEGIN("aclrtDestroyContext");
    res *r = find(R_CTX, context);
    if (r == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclrtDestroyContext: %p is not a live context", context));
    for (res *s = live; s != NULL; s = s->next)
        if (s->kind == R_STREAM && s->device == ((fake_ctx *)context)->device && s->id == 1 &&
            ((fake_ctx *)s->size) == context)
            RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclrtDestroyContext: context %p still has a stream", context));
    if (cur_ctx == context)
        cur_ctx = NULL;
    untrack(r);
    free(context);
    RETURN(0);
}

EXPORT aclError aclrtSetCurrentContext(aclrtContext context) {
    BEGIN("aclrtSetCurrentContext");
    if (find(R_CTX, context) == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclrtSetCurrentContext: %p is not a live context", context));
    cur_ctx = context;
    RETURN(0);
}

EXPORT aclError aclrtCreateStream(aclrtStream *stream) {
    BEGIN("aclrtCreateStream");
    int rc = need_ctx("aclrtCreateStream");
    if (rc != 0)
        RETURN(rc);
    if (stream == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclrtCreateStream: stream is NULL"));
    void *s = malloc(1);
    res *r = s != NULL ? track(R_STREAM, s) : NULL;
    if (r == NULL) {
        free(s);
        RETURN(fail(AMQ_ACL_ERROR_BAD_ALLOC, "aclrtCreateStream: out of memory"));
    }
    /* Remember the owning context so that destroying it first is caught. */
    r->device = cur_ctx->device;
    r->id = 1;
    r->size = (size_t)cur_ctx;
    *stream = s;
    RETURN(0);
}

EXPORT aclError aclrtDestroyStream(aclrtStream stream) {
    BEGIN("aclrtDestroyStream");
    res *r = find(R_STREAM, stream);
    if (r == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclrtDestroyStream: %p is not a live stream", stream));
    untrack(r);
    free(stream);
    RETURN(0);
}

EXPORT aclError aclrtMalloc(void **devPtr, size_t size, aclrtMemMallocPolicy policy) {
    (void)policy;
    BEGIN("aclrtMalloc");
    int rc = need_ctx("aclrtMalloc");
    if (rc != 0)
        RETURN(rc);
    if (devPtr == NULL || size == 0)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclrtMalloc: devPtr is NULL or size is 0"));
    void *p = calloc(1, size);
    res *r = p != NULL ? track(R_MEM, p) : NULL;
    if (r == NULL) {
        free(p);
        RETURN(fail(AMQ_ACL_ERROR_BAD_ALLOC, "aclrtMalloc: cannot allocate %zu bytes", size));
    }
    r->size = size;
    r->device = cur_ctx->device;
    *devPtr = p;
    RETURN(0);
}

EXPORT aclError aclrtFree(void *devPtr) {
    BEGIN("aclrtFree");
    res *r = find(R_MEM, devPtr);
    if (r == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclrtFree: %p is not a live device allocation (double free?)", devPtr));
    untrack(r);
    free(devPtr);
    RETURN(0);
}

EXPORT aclError aclrtMemcpy(void *dst, size_t destMax, const void *src, size_t count, aclrtMemcpyKind kind) {
    BEGIN("aclrtMemcpy");
    int rc = need_ctx("aclrtMemcpy");
    if (rc != 0)
        RETURN(rc);
    if (dst == NULL || src == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclrtMemcpy: NULL pointer"));
    if (count > destMax)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclrtMemcpy: count %zu exceeds destMax %zu", count, destMax));
    int k = (int)kind;
    int dst_dev = k == AMQ_ACL_MEMCPY_HOST_TO_DEVICE || k == AMQ_ACL_MEMCPY_DEVICE_TO_DEVICE;
    int src_dev = k == AMQ_ACL_MEMCPY_DEVICE_TO_HOST || k == AMQ_ACL_MEMCPY_DEVICE_TO_DEVICE;
    if (k < 0 || k > 3)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclrtMemcpy: bad kind %d", k));
    if (dst_dev && find_mem(dst, destMax) == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclrtMemcpy: destination %p+%zu is not live device memory", dst, destMax));
    if (src_dev && find_mem(src, count) == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclrtMemcpy: source %p+%zu is not live device memory", src, count));
    memcpy(dst, src, count);
    RETURN(0);
}

static size_t dtype_size(int dt) {
    switch (dt) {
    case AMQ_ACL_FLOAT: case AMQ_ACL_INT32: case AMQ_ACL_UINT32: return 4;
    case AMQ_ACL_FLOAT16: case AMQ_ACL_INT16: case AMQ_ACL_UINT16: return 2;
    case AMQ_ACL_INT8: case AMQ_ACL_UINT8: case AMQ_ACL_BOOL: return 1;
    case AMQ_ACL_INT64: case AMQ_ACL_UINT64: case AMQ_ACL_DOUBLE: return 8;
    }
    return 0;
}

static void model_clear(fake_model *m) {
    free(m->io);
    free(m->payload);
    memset(m, 0, sizeof *m);
}

/* parse_om reads the fake .om format (see amq_fake.h). */
static int parse_om(const unsigned char *data, size_t len, fake_model *m, const char *who) {
    const char *p = (const char *)data, *end = p + len;
    memset(m, 0, sizeof *m);
    if (len < 7 || memcmp(p, "AMQOM1\n", 7) != 0)
        return fail(AMQ_ACL_ERROR_INVALID_FILE, "%s: not an offline model (bad magic)", who);
    p += 7;
    size_t cap = 0;
    for (;;) {
        char line[8192];
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL || nl - p >= (long)sizeof line) {
            model_clear(m);
            return fail(AMQ_ACL_ERROR_INVALID_FILE, "%s: truncated model header", who);
        }
        memcpy(line, p, (size_t)(nl - p));
        line[nl - p] = '\0';
        p = nl + 1;
        unsigned long long plen;
        if (sscanf(line, "payload %llu", &plen) == 1) {
            if (plen != (unsigned long long)(end - p)) {
                model_clear(m);
                return fail(AMQ_ACL_ERROR_INVALID_FILE, "%s: payload is %zu bytes, header says %llu", who, (size_t)(end - p), plen);
            }
            m->payload = malloc(plen ? plen : 1);
            if (m->payload == NULL) {
                model_clear(m);
                return fail(AMQ_ACL_ERROR_BAD_ALLOC, "%s: out of memory", who);
            }
            memcpy(m->payload, p, plen);
            m->payload_len = plen;
            return 0;
        }
        char kind[16];
        int dt, nd, off;
        if (sscanf(line, "%15s %d %d%n", kind, &dt, &nd, &off) != 3 || nd < 0 || nd > ACL_MAX_DIM_CNT ||
            dtype_size(dt) == 0 || (strcmp(kind, "input") != 0 && strcmp(kind, "output") != 0)) {
            model_clear(m);
            return fail(AMQ_ACL_ERROR_INVALID_FILE, "%s: bad header line %.80s", who, line);
        }
        int output = strcmp(kind, "output") == 0;
        if (!output && m->nout > 0) {
            model_clear(m);
            return fail(AMQ_ACL_ERROR_INVALID_FILE, "%s: input after outputs", who);
        }
        if (m->nin + m->nout == cap) {
            cap = cap ? 2 * cap : 8;
            io_desc *io = realloc(m->io, cap * sizeof *io);
            if (io == NULL) {
                model_clear(m);
                return fail(AMQ_ACL_ERROR_BAD_ALLOC, "%s: out of memory", who);
            }
            m->io = io;
        }
        io_desc *d = &m->io[m->nin + m->nout];
        memset(d, 0, sizeof *d);
        d->dtype = dt;
        d->ndims = (size_t)nd;
        d->size = dtype_size(dt);
        const char *q = line + off;
        for (int i = 0; i < nd; i++) {
            long long v;
            int o2;
            if (sscanf(q, "%lld%n", &v, &o2) != 1 || v < 0) {
                model_clear(m);
                return fail(AMQ_ACL_ERROR_INVALID_FILE, "%s: bad dims in %.80s", who, line);
            }
            d->dims[i] = v;
            d->size *= (size_t)v;
            q += o2;
        }
        int nlen, o3;
        if (sscanf(q, "%d %n", &nlen, &o3) != 1 || nlen < 0 || nlen >= (int)sizeof d->name ||
            (long)strlen(q + o3) != nlen) {
            model_clear(m);
            return fail(AMQ_ACL_ERROR_INVALID_FILE, "%s: bad name in %.80s", who, line);
        }
        memcpy(d->name, q + o3, (size_t)nlen);
        if (output)
            m->nout++;
        else
            m->nin++;
    }
}

static aclError load(const unsigned char *data, size_t len, uint32_t *modelId, const char *who) {
    fake_model *m = calloc(1, sizeof *m);
    if (m == NULL)
        return fail(AMQ_ACL_ERROR_BAD_ALLOC, "%s: out of memory", who);
    int rc = parse_om(data, len, m, who);
    if (rc != 0) {
        free(m);
        return rc;
    }
    res *r = track(R_MODEL, m);
    if (r == NULL) {
        model_clear(m);
        free(m);
        return fail(AMQ_ACL_ERROR_BAD_ALLOC, "%s: out of memory", who);
    }
    r->id = next_model_id++;
    r->device = cur_ctx->device;
    *modelId = r->id;
    return 0;
}

EXPORT aclError aclmdlLoadFromFile(const char *modelPath, uint32_t *modelId) {
    BEGIN("aclmdlLoadFromFile");
    int rc = need_ctx("aclmdlLoadFromFile");
    if (rc != 0)
        RETURN(rc);
    if (modelPath == NULL || modelId == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclmdlLoadFromFile: NULL argument"));
    FILE *f = fopen(modelPath, "rb");
    if (f == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_FILE, "aclmdlLoadFromFile: cannot open %s", modelPath));
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0, n;
    do {
        if (len == cap) {
            cap = cap ? 2 * cap : 65536;
            unsigned char *b = realloc(buf, cap);
            if (b == NULL) {
                free(buf);
                fclose(f);
                RETURN(fail(AMQ_ACL_ERROR_BAD_ALLOC, "aclmdlLoadFromFile: out of memory"));
            }
            buf = b;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    fclose(f);
    rc = load(buf, len, modelId, modelPath);
    free(buf);
    RETURN(rc);
}

EXPORT aclError aclmdlLoadFromMem(const void *model, size_t modelSize, uint32_t *modelId) {
    BEGIN("aclmdlLoadFromMem");
    int rc = need_ctx("aclmdlLoadFromMem");
    if (rc != 0)
        RETURN(rc);
    if (model == NULL || modelId == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclmdlLoadFromMem: NULL argument"));
    RETURN(load(model, modelSize, modelId, "aclmdlLoadFromMem"));
}

static res *find_model(uint32_t id) {
    for (res *r = live; r != NULL; r = r->next)
        if (r->kind == R_MODEL && r->id == id)
            return r;
    return NULL;
}

EXPORT aclError aclmdlUnload(uint32_t modelId) {
    BEGIN("aclmdlUnload");
    res *r = find_model(modelId);
    if (r == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_MODEL_ID, "aclmdlUnload: model id %u is not loaded", modelId));
    fake_model *m = r->ptr;
    untrack(r);
    model_clear(m);
    free(m);
    RETURN(0);
}

EXPORT aclmdlDesc *aclmdlCreateDesc(void) {
    BEGIN_VAL("aclmdlCreateDesc", NULL);
    aclmdlDesc *d = calloc(1, sizeof *d);
    if (d == NULL || track(R_DESC, d) == NULL) {
        free(d);
        fail(AMQ_ACL_ERROR_BAD_ALLOC, "aclmdlCreateDesc: out of memory");
        RETURN(NULL);
    }
    RETURN(d);
}

EXPORT aclError aclmdlDestroyDesc(aclmdlDesc *modelDesc) {
    BEGIN("aclmdlDestroyDesc");
    res *r = find(R_DESC, modelDesc);
    if (r == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclmdlDestroyDesc: %p is not a live description", (void *)modelDesc));
    untrack(r);
    free(modelDesc->m.io);
    free(modelDesc);
    RETURN(0);
}

EXPORT aclError aclmdlGetDesc(aclmdlDesc *modelDesc, uint32_t modelId) {
    BEGIN("aclmdlGetDesc");
    if (find(R_DESC, modelDesc) == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclmdlGetDesc: %p is not a live description", (void *)modelDesc));
    res *r = find_model(modelId);
    if (r == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_MODEL_ID, "aclmdlGetDesc: model id %u is not loaded", modelId));
    fake_model *m = r->ptr;
    size_t n = m->nin + m->nout;
    io_desc *io = malloc((n ? n : 1) * sizeof *io);
    if (io == NULL)
        RETURN(fail(AMQ_ACL_ERROR_BAD_ALLOC, "aclmdlGetDesc: out of memory"));
    memcpy(io, m->io, n * sizeof *io);
    free(modelDesc->m.io);
    modelDesc->m.io = io;
    modelDesc->m.nin = m->nin;
    modelDesc->m.nout = m->nout;
    modelDesc->filled = 1;
    RETURN(0);
}

/* desc_io returns entry index of the inputs or outputs of a live, filled
 * description, or NULL. Called with mu held. */
static const io_desc *desc_io(const aclmdlDesc *d, int output, size_t index, const char *who) {
    if (find(R_DESC, d) == NULL || !d->filled) {
        fail(AMQ_ACL_ERROR_INVALID_PARAM, "%s: %p is not a live, filled description", who, (const void *)d);
        return NULL;
    }
    size_t n = output ? d->m.nout : d->m.nin;
    if (index >= n) {
        fail(AMQ_ACL_ERROR_INVALID_PARAM, "%s: index %zu out of range (%zu)", who, index, n);
        return NULL;
    }
    return &d->m.io[output ? d->m.nin + index : index];
}

EXPORT size_t aclmdlGetNumInputs(aclmdlDesc *modelDesc) {
    BEGIN_VAL("aclmdlGetNumInputs", 0);
    RETURN(find(R_DESC, modelDesc) != NULL ? modelDesc->m.nin : 0);
}

EXPORT size_t aclmdlGetNumOutputs(aclmdlDesc *modelDesc) {
    BEGIN_VAL("aclmdlGetNumOutputs", 0);
    RETURN(find(R_DESC, modelDesc) != NULL ? modelDesc->m.nout : 0);
}

#define IO_GETTER(ret, fname, output, failval, expr)                 \
    EXPORT ret fname(aclmdlDesc *modelDesc, size_t index) {          \
        BEGIN_VAL(#fname, failval);                                  \
        const io_desc *d = desc_io(modelDesc, output, index, #fname); \
        RETURN(d != NULL ? (expr) : failval);                        \
    }
IO_GETTER(size_t, aclmdlGetInputSizeByIndex, 0, 0, d->size)
IO_GETTER(size_t, aclmdlGetOutputSizeByIndex, 1, 0, d->size)
#undef IO_GETTER
#define IO_GETTER_C(ret, fname, output, failval, expr)               \
    EXPORT ret fname(const aclmdlDesc *modelDesc, size_t index) {    \
        BEGIN_VAL(#fname, failval);                                  \
        const io_desc *d = desc_io(modelDesc, output, index, #fname); \
        RETURN(d != NULL ? (expr) : failval);                        \
    }
IO_GETTER_C(const char *, aclmdlGetInputNameByIndex, 0, NULL, d->name)
IO_GETTER_C(const char *, aclmdlGetOutputNameByIndex, 1, NULL, d->name)
/* ACL_DT_UNDEFINED (-1) on failure. */
IO_GETTER_C(aclDataType, aclmdlGetInputDataType, 0, -1, d->dtype)
IO_GETTER_C(aclDataType, aclmdlGetOutputDataType, 1, -1, d->dtype)
#undef IO_GETTER_C

static aclError get_dims(const aclmdlDesc *modelDesc, int output, size_t index, aclmdlIODims *dims, const char *who) {
    BEGIN(who);
    const io_desc *d = desc_io(modelDesc, output, index, who);
    if (d == NULL)
        RETURN(AMQ_ACL_ERROR_INVALID_PARAM);
    if (dims == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "%s: dims is NULL", who));
    memset(dims, 0, sizeof *dims);
    /* CANN's aclmdlIODims holds 127 bytes of the name. */
    size_t nlen = strnlen(d->name, sizeof dims->name - 1);
    memcpy(dims->name, d->name, nlen);
    dims->name[nlen] = '\0';
    dims->dimCount = d->ndims;
    memcpy(dims->dims, d->dims, d->ndims * sizeof d->dims[0]);
    RETURN(0);
}

EXPORT aclError aclmdlGetInputDims(const aclmdlDesc *modelDesc, size_t index, aclmdlIODims *dims) {
    return get_dims(modelDesc, 0, index, dims, "aclmdlGetInputDims");
}

EXPORT aclError aclmdlGetOutputDims(const aclmdlDesc *modelDesc, size_t index, aclmdlIODims *dims) {
    return get_dims(modelDesc, 1, index, dims, "aclmdlGetOutputDims");
}

EXPORT aclmdlDataset *aclmdlCreateDataset(void) {
    BEGIN_VAL("aclmdlCreateDataset", NULL);
    aclmdlDataset *d = calloc(1, sizeof *d);
    if (d == NULL || track(R_DATASET, d) == NULL) {
        free(d);
        fail(AMQ_ACL_ERROR_BAD_ALLOC, "aclmdlCreateDataset: out of memory");
        RETURN(NULL);
    }
    RETURN(d);
}

EXPORT aclError aclmdlDestroyDataset(const aclmdlDataset *dataset) {
    BEGIN("aclmdlDestroyDataset");
    res *r = find(R_DATASET, dataset);
    if (r == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclmdlDestroyDataset: %p is not a live dataset", (const void *)dataset));
    untrack(r);
    /* As in ACL, the data buffers stay alive: their owner destroys them. */
    free(dataset->bufs);
    free((void *)dataset);
    RETURN(0);
}

EXPORT aclError aclmdlAddDatasetBuffer(aclmdlDataset *dataset, aclDataBuffer *dataBuffer) {
    BEGIN("aclmdlAddDatasetBuffer");
    if (find(R_DATASET, dataset) == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclmdlAddDatasetBuffer: %p is not a live dataset", (void *)dataset));
    if (find(R_DATABUF, dataBuffer) == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclmdlAddDatasetBuffer: %p is not a live data buffer", (void *)dataBuffer));
    if (dataset->n == dataset->cap) {
        size_t cap = dataset->cap ? 2 * dataset->cap : 8;
        aclDataBuffer **b = realloc(dataset->bufs, cap * sizeof *b);
        if (b == NULL)
            RETURN(fail(AMQ_ACL_ERROR_BAD_ALLOC, "aclmdlAddDatasetBuffer: out of memory"));
        dataset->bufs = b;
        dataset->cap = cap;
    }
    dataset->bufs[dataset->n++] = dataBuffer;
    RETURN(0);
}

EXPORT aclDataBuffer *aclCreateDataBuffer(void *data, size_t size) {
    BEGIN_VAL("aclCreateDataBuffer", NULL);
    aclDataBuffer *b = calloc(1, sizeof *b);
    if (b == NULL || track(R_DATABUF, b) == NULL) {
        free(b);
        fail(AMQ_ACL_ERROR_BAD_ALLOC, "aclCreateDataBuffer: out of memory");
        RETURN(NULL);
    }
    b->data = data;
    b->size = size;
    RETURN(b);
}

EXPORT aclError aclDestroyDataBuffer(const aclDataBuffer *dataBuffer) {
    BEGIN("aclDestroyDataBuffer");
    res *r = find(R_DATABUF, dataBuffer);
    if (r == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclDestroyDataBuffer: %p is not a live data buffer", (const void *)dataBuffer));
    untrack(r);
    free((void *)dataBuffer);
    RETURN(0);
}

/* check_dataset verifies that ds matches the model's inputs or outputs and
 * that every buffer is live device memory of the right size. */
static int check_dataset(const aclmdlDataset *ds, const fake_model *m, int output, void **ptrs, size_t *sizes) {
    const char *what = output ? "output" : "input";
    size_t n = output ? m->nout : m->nin;
    if (find(R_DATASET, ds) == NULL)
        return fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclmdlExecute: %s dataset %p is not live", what, (const void *)ds);
    if (ds->n != n)
        return fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclmdlExecute: %s dataset has %zu buffers, model has %zu %ss", what, ds->n, n, what);
    for (size_t i = 0; i < n; i++) {
        const io_desc *d = &m->io[output ? m->nin + i : i];
        const aclDataBuffer *b = ds->bufs[i];
        if (find(R_DATABUF, b) == NULL)
            return fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclmdlExecute: %s %zu: data buffer was destroyed", what, i);
        if (b->size != d->size)
            return fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclmdlExecute: %s %zu (%s): buffer has %zu bytes, model needs %zu", what, i, d->name, b->size, d->size);
        if (d->size > 0 && find_mem(b->data, d->size) == NULL)
            return fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclmdlExecute: %s %zu (%s): buffer is not live device memory", what, i, d->name);
        ptrs[i] = b->data;
        sizes[i] = b->size;
    }
    return 0;
}

EXPORT aclError aclmdlExecute(uint32_t modelId, const aclmdlDataset *input, aclmdlDataset *output) {
    BEGIN("aclmdlExecute");
    int rc = need_ctx("aclmdlExecute");
    if (rc != 0)
        RETURN(rc);
    res *r = find_model(modelId);
    if (r == NULL)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_MODEL_ID, "aclmdlExecute: model id %u is not loaded", modelId));
    if (r->device != cur_ctx->device)
        RETURN(fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclmdlExecute: model %u lives on device %d, current context is on device %d", modelId, r->device, cur_ctx->device));
    fake_model *m = r->ptr;
    size_t n = m->nin + m->nout;
    void **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    size_t *sizes = calloc(n ? n : 1, sizeof *sizes);
    if (ptrs == NULL || sizes == NULL) {
        free(ptrs);
        free(sizes);
        RETURN(fail(AMQ_ACL_ERROR_BAD_ALLOC, "aclmdlExecute: out of memory"));
    }
    rc = check_dataset(input, m, 0, ptrs, sizes);
    if (rc == 0)
        rc = check_dataset(output, m, 1, ptrs + m->nin, sizes + m->nin);
    amq_fake_exec_fn fn = executor;
    uintptr_t user = executor_user;
    double dr = drift;
    if (rc == 0 && fn == NULL)
        rc = fail(AMQ_ACL_ERROR_INVALID_PARAM, "aclmdlExecute: fake runtime has no executor (amq_fake_set_executor)");
    /* The executor runs without the lock so that several devices execute
     * in parallel; the model and buffers stay valid because the caller owns
     * them for the duration of the call. */
    pthread_mutex_unlock(&mu);
    if (rc == 0) {
        char msg[1024] = "";
        if (fn(user, modelId, m->payload, m->payload_len, m->nin, ptrs, sizes, m->nout, ptrs + m->nin,
               sizes + m->nin, msg, sizeof msg) != 0) {
            rc = fail(FAKE_EXEC_FAILED, "aclmdlExecute: executor failed: %s", msg);
        } else if (dr != 0) {
            for (size_t i = 0; i < m->nout; i++) {
                if (m->io[m->nin + i].dtype != AMQ_ACL_FLOAT)
                    continue;
                float *f = ptrs[m->nin + i];
                for (size_t k = 0; k < sizes[m->nin + i] / 4; k++)
                    f[k] = (float)(f[k] * (1 + dr) + dr);
            }
        }
    }
    free(ptrs);
    free(sizes);
    return rc;
}

EXPORT const char *aclGetRecentErrMsg(void) {
    return err_msg[0] != '\0' ? err_msg : NULL;
}

EXPORT const char *aclrtGetSocName(void) {
    const char *e = getenv("AMQ_FAKE_SOC");
    return e != NULL && *e != '\0' ? e : "Ascend310P3";
}

/* Fake-only API (amq_fake.h). */

EXPORT void amq_fake_set_executor(amq_fake_exec_fn fn, uintptr_t user) {
    pthread_mutex_lock(&mu);
    executor = fn;
    executor_user = user;
    pthread_mutex_unlock(&mu);
}

EXPORT int amq_fake_inject(const char *func, int nth, int code, const char *msg) {
    pthread_mutex_lock(&mu);
    int rc = -1;
    if (nfaults < (int)(sizeof faults / sizeof faults[0])) {
        fault *f = &faults[nfaults++];
        snprintf(f->func, sizeof f->func, "%s", func);
        f->countdown = nth;
        f->code = code;
        snprintf(f->msg, sizeof f->msg, "%s", msg ? msg : "");
        rc = 0;
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

EXPORT void amq_fake_clear_faults(void) {
    pthread_mutex_lock(&mu);
    nfaults = 0;
    pthread_mutex_unlock(&mu);
}

EXPORT void amq_fake_set_drift(double rel) {
    pthread_mutex_lock(&mu);
    drift = rel;
    pthread_mutex_unlock(&mu);
}

EXPORT uint64_t amq_fake_calls(const char *func) {
    pthread_mutex_lock(&mu);
    int i = func_index(func);
    uint64_t n = i >= 0 ? calls[i] : 0;
    pthread_mutex_unlock(&mu);
    return n;
}

EXPORT int amq_fake_leaks(char *buf, size_t len) {
    pthread_mutex_lock(&mu);
    int n = leak_report(buf, len);
    pthread_mutex_unlock(&mu);
    return n;
}
