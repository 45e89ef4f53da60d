/*
 * amq_fake.h - functions that only amq's fake libascendcl.so exports, for
 * tests: registering the CPU executor, fault injection, numeric drift and
 * the leak report. Real CANN has none of them; tests find them with dlsym.
 *
 * The fake's ".om" file format (written by amq's fake ATC, cgo/fake/fakeatc):
 *
 *   AMQOM1\n
 *   input <aclDataType> <ndims> <d0> ... <d(n-1)> <namelen> <name>\n    (per input, in order)
 *   output <aclDataType> <ndims> <d0> ... <namelen> <name>\n             (per output, in order)
 *   payload <nbytes>\n
 *   <nbytes of ONNX model>
 *
 * The ONNX model carries ATC's --precision_mode, when one applies, in its
 * metadata_props under "amq.precision_mode"; the executor emulates it.
 */
#ifndef AMQ_FAKE_H
#define AMQ_FAKE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * amq_fake_exec_fn runs a loaded model on the CPU. payload is the ONNX
 * model stored in the .om; in/out are the bytes of the dataset buffers in
 * the model's I/O order. It returns 0, or non-zero after writing a message
 * to msg.
 */
typedef int (*amq_fake_exec_fn)(uintptr_t user, uint32_t model_id, const void *payload,
                                size_t payload_len, size_t nin, void *const *in,
                                const size_t *in_sizes, size_t nout, void *const *out,
                                const size_t *out_sizes, char *msg, size_t msg_len);

/* amq_fake_set_executor registers the executor aclmdlExecute calls. */
void amq_fake_set_executor(amq_fake_exec_fn fn, uintptr_t user);

/*
 * amq_fake_inject makes the nth following call (1 = the next one) of the
 * ACL function func fail with code and msg (as aclGetRecentErrMsg). The
 * environment variable AMQ_FAKE_FAIL="func:nth:code:msg[;...]" does the same
 * at aclInit. Returns 0, or -1 when the fault table is full.
 */
int amq_fake_inject(const char *func, int nth, int code, const char *msg);

/* amq_fake_clear_faults removes every pending fault. */
void amq_fake_clear_faults(void);

/* amq_fake_set_drift perturbs every FLOAT output element x to
 * x*(1+rel)+rel after execution (0 turns it off; env AMQ_FAKE_DRIFT). */
void amq_fake_set_drift(double rel);

/* amq_fake_calls returns how often the ACL function func was called. */
uint64_t amq_fake_calls(const char *func);

/* amq_fake_leaks writes one line per live resource (device memory,
 * contexts, streams, models, descriptions, datasets, data buffers, devices
 * set and not reset) to buf and returns their number. */
int amq_fake_leaks(char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* AMQ_FAKE_H */
