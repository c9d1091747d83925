/*
 * A logger writing into memory, for tests that assert on log lines: memlog_open() makes one,
 * memlog_text() flushes and returns everything written so far, memlog_close() frees it all.
 */
#ifndef TESTS_OBS_MEMLOG_H
#define TESTS_OBS_MEMLOG_H

#include <stdio.h>
#include <stdlib.h>

#include "k8s/log.h"

typedef struct {
    char *text;
    size_t len;
    FILE *out;
    k8s_log *log;
} memlog;

static inline void memlog_open(memlog *m, k8s_log_level level)
{
    m->text = NULL;
    m->len = 0;
    m->out = open_memstream(&m->text, &m->len);
    m->log = m->out ? k8s_log_new(m->out, K8S_LOG_TEXT, level) : NULL;
}

static inline const char *memlog_text(memlog *m)
{
    fflush(m->out);
    return m->text ? m->text : "";
}

static inline void memlog_close(memlog *m)
{
    k8s_log_free(m->log);
    if (m->out)
        fclose(m->out);
    free(m->text);
}

#endif
