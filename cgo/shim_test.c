/*
 * shim_test.c - C tests of the shim (cgo/amq_acl.c) against the fake
 * runtime (cgo/fake). Usage: shim_test <libfake.so> | shim_test --stub <libstub.so>
 *
 * The executor registered here doubles each float input into the output of
 * the same index, so results are checked against a formula.
 */
#include "amq_acl.h"
#include "amq_acl_decls.h"
#include "amq_fake.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(cond, ...)                                               \
    do {                                                               \
        if (!(cond)) {                                                 \
            failures++;                                                \
            fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                              \
            fprintf(stderr, "\n");                                     \
        }                                                              \
    } while (0)

static int (*fake_leaks)(char *, size_t);
static int (*fake_inject)(const char *, int, int, const char *);
static void (*fake_clear)(void);
static void (*fake_set_exec)(amq_fake_exec_fn, uintptr_t);
static uint64_t (*fake_calls)(const char *);

static int doubler(uintptr_t user, uint32_t id, const void *payload, size_t plen, size_t nin,
                   void *const *in, const size_t *in_sizes, size_t nout, void *const *out,
                   const size_t *out_sizes, char *msg, size_t msg_len) {
    (void)user; (void)id;
    if (plen != 5 || memcmp(payload, "hello", 5) != 0) {
        snprintf(msg, msg_len, "unexpected payload");
        return 1;
    }
    for (size_t i = 0; i < nout && i < nin; i++) {
        if (in_sizes[i] != out_sizes[i]) {
            snprintf(msg, msg_len, "size mismatch");
            return 1;
        }
        const float *a = in[i];
        float *b = out[i];
        for (size_t k = 0; k < in_sizes[i] / 4; k++)
            b[k] = 2 * a[k];
    }
    return 0;
}

/* The model: input "x" float [2,3], output "y" float [2,3]. */
static const char om[] = "AMQOM1\n"
                         "input 0 2 2 3 1 x\n"
                         "output 0 2 2 3 5 y out\n"
                         "payload 5\nhello";

static int write_om(const char *path) {
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    fwrite(om, 1, sizeof om - 1, f);
    return fclose(f);
}

static void expect_no_leaks(const char *when) {
    char buf[4096];
    int n = fake_leaks(buf, sizeof buf);
    CHECK(n == 0, "%s: %d leaked resource(s):\n%s", when, n, buf);
}

/* cycle opens a session, loads the model, runs it once and tears down.
 * It returns the first error code and fills st. */
static int cycle(int from_file, const char *path, amq_acl_status *st, float *y) {
    amq_acl_session *s = NULL;
    amq_acl_model *m = NULL;
    int rc = amq_acl_session_open(0, &s, st);
    if (rc != 0)
        return rc;
    rc = from_file ? amq_acl_model_load(s, path, NULL, 0, &m, st)
                   : amq_acl_model_load(s, NULL, om, sizeof om - 1, &m, st);
    if (rc == 0) {
        float x[6] = {1, -2, 3.5f, 0, 7, -8};
        const void *in[1] = {x};
        size_t in_sz[1] = {sizeof x};
        void *out[1] = {y};
        size_t out_sz[1] = {6 * sizeof(float)};
        rc = amq_acl_model_execute(m, in, in_sz, out, out_sz, st);
        amq_acl_status st2;
        int rc2 = amq_acl_model_unload(m, &st2);
        if (rc == 0 && rc2 != 0) {
            rc = rc2;
            *st = st2;
        }
    }
    amq_acl_status st3;
    int rc3 = amq_acl_session_close(s, &st3);
    if (rc == 0 && rc3 != 0) {
        rc = rc3;
        *st = st3;
    }
    return rc;
}

struct thread_arg {
    amq_acl_model *m;
    int rc;
    int direct_rc;
    float y[6];
};

static void *other_thread(void *p) {
    struct thread_arg *a = p;
    float x[6] = {1, 2, 3, 4, 5, 6};
    const void *in[1] = {x};
    size_t in_sz[1] = {sizeof x};
    void *out[1] = {a->y};
    size_t out_sz[1] = {sizeof a->y};
    /* A raw ACL call on a fresh thread has no current context... */
    amq_aclrtMalloc_fn mal = (amq_aclrtMalloc_fn)amq_acl_sym("aclrtMalloc");
    void *d = NULL;
    a->direct_rc = mal(&d, 16, 0);
    /* ...but the shim sets the session's context in every call. */
    amq_acl_status st;
    a->rc = amq_acl_model_execute(a->m, in, in_sz, out, out_sz, &st);
    return NULL;
}

/* test_long_names loads a model whose output name has n bytes: names up to
 * the shim's limit arrive whole (ACL's aclmdlIODims would cut them at 127),
 * longer ones fail the load naming the getter, without leaks. */
static void test_long_names(size_t n) {
    char name[1600], om_long[2048];
    memset(name, 'n', n);
    name[n] = '\0';
    int len = snprintf(om_long, sizeof om_long, "AMQOM1\ninput 0 1 2 1 x\noutput 0 1 2 %zu %s\npayload 5\nhello", n, name);
    amq_acl_status st;
    amq_acl_session *s = NULL;
    amq_acl_model *m = NULL;
    CHECK(amq_acl_session_open(0, &s, &st) == 0, "session: %s", st.msg);
    int rc = amq_acl_model_load(s, NULL, om_long, (size_t)len, &m, &st);
    if (n < AMQ_ACL_NAME_MAX) {
        amq_acl_io io;
        CHECK(rc == 0, "name of %zu bytes: rc=%d %s", n, rc, st.msg);
        CHECK(rc == 0 && amq_acl_model_io(m, 1, 0, &io) == 0 && strcmp(io.name, name) == 0,
              "name of %zu bytes arrived as %zu bytes", n, strlen(io.name));
    } else {
        CHECK(rc == AMQ_ERR_ARG && strcmp(st.func, "aclmdlGetOutputNameByIndex") == 0 &&
                  strstr(st.msg, "longer than amq's limit") != NULL,
              "name of %zu bytes: rc=%d %s: %s", n, rc, st.func, st.msg);
    }
    CHECK(amq_acl_model_unload(m, &st) == 0, "unload: %s", st.msg);
    CHECK(amq_acl_session_close(s, &st) == 0, "close: %s", st.msg);
    expect_no_leaks("long names");
}

static int test_stub(const char *lib) {
    amq_acl_status st;
    int rc = amq_acl_open(lib, NULL, 0, &st);
    CHECK(rc == AMQ_ACL_ERROR_COMPILING_STUB_MODE, "stub open rc=%d func=%s", rc, st.func);
    CHECK(strcmp(st.func, "aclInit") == 0, "func=%s", st.func);
    return failures ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--stub") == 0)
        return test_stub(argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: %s libfake.so | --stub libstub.so\n", argv[0]);
        return 2;
    }
    amq_acl_status st;
    memset(&st, 0, sizeof st);

    /* Missing library. A failed open is final for the process, so it is
     * checked with a library path in a child-free way: dlopen of a bad path
     * is tested by the Go tests in their own process. */
    char used[4096];
    int rc = amq_acl_open(argv[1], used, sizeof used, &st);
    CHECK(rc == 0, "open %s: rc=%d %s: %s", argv[1], rc, st.func, st.msg);
    if (rc != 0)
        return 1;
    CHECK(strcmp(used, argv[1]) == 0, "used=%s", used);
    fake_leaks = (int (*)(char *, size_t))amq_acl_sym("amq_fake_leaks");
    fake_inject = (int (*)(const char *, int, int, const char *))amq_acl_sym("amq_fake_inject");
    fake_clear = (void (*)(void))amq_acl_sym("amq_fake_clear_faults");
    fake_set_exec = (void (*)(amq_fake_exec_fn, uintptr_t))amq_acl_sym("amq_fake_set_executor");
    fake_calls = (uint64_t (*)(const char *))amq_acl_sym("amq_fake_calls");
    CHECK(fake_leaks && fake_inject && fake_clear && fake_set_exec && fake_calls, "fake-only symbols missing");
    if (failures)
        return 1;
    /* A second open returns the first result without a second aclInit. */
    CHECK(amq_acl_open("/nonexistent.so", NULL, 0, &st) == 0, "reopen");
    CHECK(fake_calls("aclInit") == 1, "aclInit called %llu times", (unsigned long long)fake_calls("aclInit"));

    uint32_t n = 0;
    CHECK(amq_acl_device_count(&n, &st) == 0 && n == 2, "device count %u", n);
    char soc[64];
    CHECK(amq_acl_soc_name(soc, sizeof soc, &st) == 0 && strcmp(soc, "Ascend310P3") == 0, "soc %s", soc);

    /* No executor yet: execution fails cleanly, nothing leaks. */
    float y[6] = {0};
    rc = cycle(0, NULL, &st, y);
    CHECK(rc != 0 && strcmp(st.func, "aclmdlExecute") == 0 && strstr(st.msg, "executor") != NULL,
          "rc=%d func=%s msg=%s", rc, st.func, st.msg);
    expect_no_leaks("no executor");

    fake_set_exec(doubler, 0);
    const char *path = "shim_test_model.om";
    CHECK(write_om(path) == 0, "write %s", path);
    for (int from_file = 0; from_file <= 1; from_file++) {
        memset(y, 0, sizeof y);
        rc = cycle(from_file, path, &st, y);
        CHECK(rc == 0, "cycle(file=%d): rc=%d %s: %s", from_file, rc, st.func, st.msg);
        float want[6] = {2, -4, 7, 0, 14, -16};
        CHECK(memcmp(y, want, sizeof y) == 0, "outputs %g %g %g %g %g %g", y[0], y[1], y[2], y[3], y[4], y[5]);
        expect_no_leaks("cycle");
    }

    /* I/O description, wrong sizes, other threads. */
    amq_acl_session *s = NULL;
    amq_acl_model *m = NULL;
    CHECK(amq_acl_session_open(1, &s, &st) == 0, "session on device 1: %s", st.msg);
    CHECK(amq_acl_model_load(s, path, NULL, 0, &m, &st) == 0, "load: %s", st.msg);
    if (m != NULL) {
        amq_acl_io io;
        CHECK(amq_acl_model_num_io(m, 0) == 1 && amq_acl_model_num_io(m, 1) == 1, "io count");
        CHECK(amq_acl_model_io(m, 1, 0, &io) == 0 && strcmp(io.name, "y out") == 0 && io.size == 24 &&
                  io.ndims == 2 && io.dims[0] == 2 && io.dims[1] == 3 && io.dtype == AMQ_ACL_FLOAT,
              "output desc %s size %zu", io.name, io.size);
        float x[5] = {0};
        const void *in[1] = {x};
        size_t in_sz[1] = {sizeof x};
        void *out[1] = {y};
        size_t out_sz[1] = {sizeof y};
        rc = amq_acl_model_execute(m, in, in_sz, out, out_sz, &st);
        CHECK(rc == AMQ_ERR_ARG && strstr(st.msg, "20 bytes given, model expects 24") != NULL, "wrong size: %d %s", rc, st.msg);

        struct thread_arg a;
        memset(&a, 0, sizeof a);
        a.m = m;
        pthread_t th;
        pthread_create(&th, NULL, other_thread, &a);
        pthread_join(th, NULL);
        CHECK(a.rc == 0, "execute on another thread: %d", a.rc);
        CHECK(a.y[5] == 12, "y[5]=%g", a.y[5]);
        CHECK(a.direct_rc == AMQ_ACL_ERROR_RT_CONTEXT_NULL, "malloc without context: %d", a.direct_rc);
    }
    CHECK(amq_acl_model_unload(m, &st) == 0, "unload: %s", st.msg);
    CHECK(amq_acl_session_close(s, &st) == 0, "close: %s", st.msg);
    expect_no_leaks("threads");
    test_long_names(200);
    test_long_names(AMQ_ACL_NAME_MAX - 1);
    test_long_names(AMQ_ACL_NAME_MAX + 400);

    /* Misuse of the raw API returns ACL codes; the leak report sees leaks. */
    CHECK(amq_acl_session_open(0, &s, &st) == 0, "session: %s", st.msg);
    amq_aclrtMalloc_fn mal = (amq_aclrtMalloc_fn)amq_acl_sym("aclrtMalloc");
    amq_aclrtFree_fn fr = (amq_aclrtFree_fn)amq_acl_sym("aclrtFree");
    amq_aclmdlUnload_fn unl = (amq_aclmdlUnload_fn)amq_acl_sym("aclmdlUnload");
    amq_aclrtMemcpy_fn cpy = (amq_aclrtMemcpy_fn)amq_acl_sym("aclrtMemcpy");
    void *d = NULL;
    CHECK(mal(&d, 64, 0) == 0, "malloc");
    char leaks[1024];
    CHECK(fake_leaks(leaks, sizeof leaks) == 4 && strstr(leaks, "device memory: 64 bytes") != NULL, "leak report: %s", leaks);
    char host[128];
    CHECK(cpy(d, 64, host, 128, (aclrtMemcpyKind)AMQ_ACL_MEMCPY_HOST_TO_DEVICE) == AMQ_ACL_ERROR_INVALID_PARAM, "memcpy over destMax");
    CHECK(cpy(d, 128, host, 128, (aclrtMemcpyKind)AMQ_ACL_MEMCPY_HOST_TO_DEVICE) == AMQ_ACL_ERROR_INVALID_PARAM, "memcpy past allocation");
    CHECK(fr(d) == 0, "free");
    CHECK(fr(d) == AMQ_ACL_ERROR_INVALID_PARAM, "double free accepted");
    CHECK(unl(12345) == AMQ_ACL_ERROR_INVALID_MODEL_ID, "unload of unknown id");
    CHECK(amq_acl_session_close(s, &st) == 0, "close: %s", st.msg);
    expect_no_leaks("misuse");

    /* Fault injection: make each ACL call of a full cycle fail in turn
     * (its first and its second call). The shim must report that call, its
     * code and the runtime's message, and free everything else. A refused
     * release (teardown functions, listed last) leaves exactly the refused
     * object behind, as a real runtime would. */
    static const char *funcs[] = {"aclrtSetDevice", "aclrtCreateContext", "aclrtCreateStream",
                                  "aclrtSetCurrentContext", "aclmdlLoadFromFile", "aclmdlCreateDesc",
                                  "aclmdlGetDesc", "aclmdlGetInputDims", "aclmdlGetOutputDims",
                                  "aclmdlCreateDataset", "aclrtMalloc", "aclCreateDataBuffer",
                                  "aclmdlAddDatasetBuffer", "aclrtMemcpy", "aclmdlExecute",
                                  /* teardown */
                                  "aclmdlDestroyDataset", "aclDestroyDataBuffer", "aclrtFree",
                                  "aclmdlDestroyDesc", "aclmdlUnload", "aclrtDestroyStream",
                                  "aclrtDestroyContext", "aclrtResetDevice"};
    int injected = 0;
    for (size_t i = 0; i < sizeof funcs / sizeof funcs[0]; i++) {
        int teardown = i >= 15;
        for (int nth = 1; nth <= 2; nth++) {
            int baseline = fake_leaks(NULL, 0);
            uint64_t before = fake_calls(funcs[i]);
            int code = 107100 + (int)i;
            fake_inject(funcs[i], nth, code, "injected fault");
            memset(&st, 0, sizeof st);
            rc = cycle(1, path, &st, y);
            uint64_t made = fake_calls(funcs[i]) - before;
            fake_clear();
            if (made < (uint64_t)nth) {
                CHECK(rc == 0, "%s #%d not reached but cycle failed: %s", funcs[i], nth, st.msg);
                continue; /* a cycle calls this function fewer times */
            }
            injected++;
            if (strcmp(funcs[i], "aclmdlCreateDesc") == 0 || strcmp(funcs[i], "aclmdlCreateDataset") == 0 ||
                strcmp(funcs[i], "aclCreateDataBuffer") == 0)
                code = AMQ_ACL_ERROR_BAD_ALLOC; /* NULL-returning calls carry no code */
            CHECK(rc == code, "%s #%d: rc=%d, want %d (%s: %s)", funcs[i], nth, rc, code, st.func, st.msg);
            CHECK(strcmp(st.func, funcs[i]) == 0, "%s #%d: failing func %s", funcs[i], nth, st.func);
            CHECK(strcmp(st.msg, "injected fault") == 0, "%s #%d: msg %s", funcs[i], nth, st.msg);
            char buf[4096];
            int nl = fake_leaks(buf, sizeof buf);
            if (teardown)
                CHECK(nl > baseline, "%s #%d: refused release not visible", funcs[i], nth);
            else
                CHECK(nl == baseline, "%s #%d: %d leak(s):\n%s", funcs[i], nth, nl - baseline, buf);
        }
    }
    CHECK(injected >= 30, "only %d faults were reached", injected);
    printf("shim_test: %d injected faults reported\n", injected);
    remove(path);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("shim_test: ok\n");
    return 0;
}
