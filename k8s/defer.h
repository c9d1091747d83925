/*
 * One call on a later loop turn. A stop whose work is already done must still call back
 * asynchronously, as uv_close does: a caller that frees the object in the callback, or that
 * sets state after the stop call returns, must never find the callback already run.
 */
#ifndef MC_K8S_DEFER_H
#define MC_K8S_DEFER_H

#include <uv.h>

/* Runs cb(data) once on a later turn of loop, never inside this call. 0 or -ENOMEM (cb will
 * not run). The caller keeps data alive until then. */
int k8s_defer(uv_loop_t *loop, void (*cb)(void *data), void *data);

#endif
