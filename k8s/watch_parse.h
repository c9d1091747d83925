/*
 * Incremental parser for the Kubernetes watch stream.
 *
 * The API server writes one JSON object per line ({"type": ..., "object": {...}}\n), but the
 * transport hands us bytes in arbitrary chunks: one chunk may hold many events, and one event
 * may be spread over many chunks. The parser buffers partial lines across feeds and delivers
 * each complete event through a callback. It is a pure function of the bytes it is given: no
 * I/O, no clock, no loop, so it is unit-tested over every chunking and fuzzed.
 *
 * A line longer than the configured maximum is refused with -EMSGSIZE instead of growing the
 * buffer without bound: a misbehaving peer must not be able to exhaust our memory.
 */
#ifndef K8S_WATCH_PARSE_H
#define K8S_WATCH_PARSE_H

#include <stddef.h>

#include <cjson/cJSON.h>

typedef enum {
    K8S_WATCH_ADDED = 1,
    K8S_WATCH_MODIFIED,
    K8S_WATCH_DELETED,
    K8S_WATCH_BOOKMARK,
    K8S_WATCH_ERROR,
} k8s_watch_type;

/* Default bound on one event line; large objects (CRDs, big ConfigMaps) stay well below it. */
#define K8S_WATCH_PARSE_DEFAULT_MAX_LINE (16u * 1024u * 1024u)

typedef struct {
    k8s_watch_type type;
    /*
     * The event's "object". Owned by the parser: it is freed after the callback returns unless
     * the callback takes it by setting this field to NULL (then the callback owns it).
     */
    cJSON *object;
} k8s_watch_event;

/*
 * Called once per complete event, from inside k8s_watch_parser_feed/_finish. Return 0 to go on,
 * or any nonzero value to stop parsing: feed then returns that value at once and the rest of
 * that chunk is dropped (the caller is abandoning the stream; reset before reusing the parser).
 */
typedef int (*k8s_watch_event_cb)(void *data, k8s_watch_event *ev);

typedef struct {
    char *buf; /* the unfinished line carried over from earlier feeds */
    size_t len;
    size_t cap;
    size_t max_line;
    int failed; /* sticky error: a stream is not resynchronised after a bad line */
    k8s_watch_event_cb cb;
    void *data;
    char err[128]; /* human-readable detail for the last error */
} k8s_watch_parser;

/* max_line 0 means K8S_WATCH_PARSE_DEFAULT_MAX_LINE. Never fails; allocates lazily. */
void k8s_watch_parser_init(k8s_watch_parser *p, size_t max_line, k8s_watch_event_cb cb, void *data);

/*
 * Feeds len bytes. Returns 0, a nonzero value returned by the callback, or a negative error:
 * -EMSGSIZE (a line exceeds max_line), -EBADMSG (a line is not JSON), -EPROTO (JSON that is
 * not a watch event: missing/unknown type or missing object), -ENOMEM. Errors are sticky until
 * k8s_watch_parser_reset; k8s_watch_parser_error() describes them.
 */
int k8s_watch_parser_feed(k8s_watch_parser *p, const char *buf, size_t len);

/*
 * Signals the end of the stream. A final event without its trailing newline is still
 * delivered (the server always writes one, but a proxy might not); returns as feed does.
 */
int k8s_watch_parser_finish(k8s_watch_parser *p);

/* Drops buffered bytes and a sticky error, keeping callback and bound, for a new stream. */
void k8s_watch_parser_reset(k8s_watch_parser *p);

/* Frees the buffer. The parser may be initialised again afterwards. */
void k8s_watch_parser_free(k8s_watch_parser *p);

/* Bytes currently buffered for an unfinished line (for tests and memory accounting). */
size_t k8s_watch_parser_pending(const k8s_watch_parser *p);

const char *k8s_watch_parser_error(const k8s_watch_parser *p);

const char *k8s_watch_type_name(k8s_watch_type t);

/*
 * Reads the Status carried by an ERROR event: returns its "code" (e.g. 410) or 0 when the
 * object is not a Status with a code; *reason and *message (each optional) are borrowed from
 * obj and are NULL when absent.
 */
int k8s_watch_status_code(const cJSON *obj, const char **reason, const char **message);

/* metadata.resourceVersion of obj, borrowed from it, or NULL. */
const char *k8s_object_resource_version(const cJSON *obj);

#endif
