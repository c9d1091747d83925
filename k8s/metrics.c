/*
 * Metric registry and Prometheus text exposition (format 0.0.4).
 *
 * Series are kept in a plain array per family: a controller has tens of series, not thousands,
 * and a linear scan keeps the code obvious. Sorting happens only when rendering.
 */
#include "k8s/metrics.h"
#include "k8s/sbuf.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char **values; /* one per label name */
    double value;  /* counter or gauge */
    double sum;    /* histogram */
    unsigned long long count;
    unsigned long long *bucket_counts; /* histogram, per bucket, not cumulative */
} series;

struct k8s_metric {
    k8s_metric_type type;
    char *name;
    char *help;
    char **labels;
    size_t nlabels;
    double *buckets; /* finite upper bounds */
    size_t nbuckets;
    series *series;
    size_t nseries, capseries;
};

struct k8s_metrics {
    k8s_metric **families;
    size_t nfamilies, capfamilies;
    char *prefix; /* the program's, for the runtime's own families; NULL until registered */
};

/* ---------------------------------------------------------------------------------------- */
/* Registry                                                                                  */
/* ---------------------------------------------------------------------------------------- */

static int valid_name(const char *s, int allow_colon)
{
    if (!s || !*s)
        return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (allow_colon && c == ':');
        if (!alpha && !(p != s && c >= '0' && c <= '9'))
            return 0;
    }
    return 1;
}

static void series_clear(series *s, size_t nlabels)
{
    for (size_t i = 0; i < nlabels; i++)
        free(s->values[i]);
    free(s->values);
    free(s->bucket_counts);
}

static void family_free(k8s_metric *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nseries; i++)
        series_clear(&f->series[i], f->nlabels);
    free(f->series);
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->labels);
    free(f->buckets);
    free(f->name);
    free(f->help);
    free(f);
}

k8s_metrics *k8s_metrics_new(void)
{
    return calloc(1, sizeof(k8s_metrics));
}

void k8s_metrics_free(k8s_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nfamilies; i++)
        family_free(m->families[i]);
    free(m->families);
    free(m->prefix);
    free(m);
}

k8s_metric *k8s_metrics_find(const k8s_metrics *m, const char *name)
{
    for (size_t i = 0; m && name && i < m->nfamilies; i++)
        if (strcmp(m->families[i]->name, name) == 0)
            return m->families[i];
    return NULL;
}

/* Writes "<prefix>_<suffix>" into buf; 0, or -EINVAL without a prefix or when it does not fit. */
static int own_name(const char *prefix, const char *suffix, char *buf, size_t size)
{
    if (!prefix || !suffix)
        return -EINVAL;
    int n = snprintf(buf, size, "%s_%s", prefix, suffix);
    return n < 0 || (size_t)n >= size ? -EINVAL : 0;
}

k8s_metric *k8s_metrics_find_own(const k8s_metrics *m, const char *suffix)
{
    char name[128];
    if (!m || own_name(m->prefix, suffix, name, sizeof(name)) != 0)
        return NULL;
    return k8s_metrics_find(m, name);
}

k8s_metric_type k8s_metric_type_of(const k8s_metric *f)
{
    return f->type;
}

static size_t count_labels(const char *const *labels)
{
    size_t n = 0;
    while (labels && labels[n])
        n++;
    return n;
}

/* Whether an existing family has exactly the shape being registered again. */
static int same_shape(const k8s_metric *f, k8s_metric_type type, const char *const *labels,
                      const double *buckets, size_t nbuckets)
{
    if (f->type != type || f->nlabels != count_labels(labels) || f->nbuckets != nbuckets)
        return 0;
    for (size_t i = 0; i < f->nlabels; i++)
        if (strcmp(f->labels[i], labels[i]) != 0)
            return 0;
    for (size_t i = 0; i < nbuckets; i++)
        if (f->buckets[i] != buckets[i])
            return 0;
    return 1;
}

static series *series_find(const k8s_metric *f, const char *const *values)
{
    for (size_t i = 0; i < f->nseries; i++) {
        size_t j = 0;
        while (j < f->nlabels && strcmp(f->series[i].values[j], values[j]) == 0)
            j++;
        if (j == f->nlabels)
            return &f->series[i];
    }
    return NULL;
}

static int values_ok(const k8s_metric *f, const char *const *values)
{
    for (size_t i = 0; i < f->nlabels; i++)
        if (!values || !values[i])
            return 0;
    return 1;
}

/* The series for values, created at zero when missing. values must pass values_ok(). */
static series *series_get(k8s_metric *f, const char *const *values)
{
    series *s = series_find(f, values);
    if (s)
        return s;
    if (f->nseries == f->capseries) {
        size_t cap = f->capseries ? f->capseries * 2 : 4;
        series *grown = realloc(f->series, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        f->series = grown;
        f->capseries = cap;
    }
    series fresh = {0};
    fresh.values = calloc(f->nlabels ? f->nlabels : 1, sizeof(char *));
    if (!fresh.values)
        return NULL;
    if (f->type == K8S_METRIC_HISTOGRAM) {
        fresh.bucket_counts = calloc(f->nbuckets ? f->nbuckets : 1, sizeof(unsigned long long));
        if (!fresh.bucket_counts) {
            free(fresh.values);
            return NULL;
        }
    }
    for (size_t i = 0; i < f->nlabels; i++) {
        fresh.values[i] = strdup(values[i]);
        if (!fresh.values[i]) {
            series_clear(&fresh, i);
            return NULL;
        }
    }
    f->series[f->nseries] = fresh;
    return &f->series[f->nseries++];
}

static k8s_metric *family_register(k8s_metrics *m, k8s_metric_type type, const char *name,
                                   const char *help, const char *const *labels,
                                   const double *buckets, size_t nbuckets)
{
    if (!m || !valid_name(name, 1))
        return NULL;
    size_t nlabels = count_labels(labels);
    for (size_t i = 0; i < nlabels; i++) {
        if (!valid_name(labels[i], 0) || strncmp(labels[i], "__", 2) == 0)
            return NULL;
        if (type == K8S_METRIC_HISTOGRAM && strcmp(labels[i], "le") == 0)
            return NULL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(labels[i], labels[j]) == 0)
                return NULL;
    }
    /* A trailing +Inf bucket is implicit; everything else must be finite and increasing. */
    if (nbuckets && isinf(buckets[nbuckets - 1]) && buckets[nbuckets - 1] > 0)
        nbuckets--;
    for (size_t i = 0; i < nbuckets; i++)
        if (!isfinite(buckets[i]) || (i && buckets[i] <= buckets[i - 1]))
            return NULL;

    k8s_metric *existing = k8s_metrics_find(m, name);
    if (existing)
        return same_shape(existing, type, labels, buckets, nbuckets) ? existing : NULL;

    if (m->nfamilies == m->capfamilies) {
        size_t cap = m->capfamilies ? m->capfamilies * 2 : 16;
        k8s_metric **grown = realloc(m->families, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        m->families = grown;
        m->capfamilies = cap;
    }
    k8s_metric *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    f->labels = calloc(nlabels ? nlabels : 1, sizeof(char *));
    f->buckets = calloc(nbuckets ? nbuckets : 1, sizeof(double));
    if (!f->name || !f->help || !f->labels || !f->buckets)
        goto fail;
    for (size_t i = 0; i < nlabels; i++) {
        f->labels[i] = strdup(labels[i]);
        if (!f->labels[i])
            goto fail;
        f->nlabels = i + 1;
    }
    if (nbuckets)
        memcpy(f->buckets, buckets, nbuckets * sizeof(double));
    f->nbuckets = nbuckets;
    /* An unlabelled metric always has its one series, as client_golang exposes it. */
    if (nlabels == 0 && !series_get(f, NULL))
        goto fail;
    m->families[m->nfamilies++] = f;
    return f;
fail:
    family_free(f);
    return NULL;
}

k8s_metric *k8s_metrics_counter(k8s_metrics *m, const char *name, const char *help,
                                const char *const *labels)
{
    return family_register(m, K8S_METRIC_COUNTER, name, help, labels, NULL, 0);
}

k8s_metric *k8s_metrics_gauge(k8s_metrics *m, const char *name, const char *help,
                              const char *const *labels)
{
    return family_register(m, K8S_METRIC_GAUGE, name, help, labels, NULL, 0);
}

k8s_metric *k8s_metrics_histogram(k8s_metrics *m, const char *name, const char *help,
                                  const char *const *labels, const double *buckets, size_t nbuckets)
{
    return family_register(m, K8S_METRIC_HISTOGRAM, name, help, labels, buckets, nbuckets);
}

/* ---------------------------------------------------------------------------------------- */
/* Series updates                                                                            */
/* ---------------------------------------------------------------------------------------- */

int k8s_metric_add(k8s_metric *f, const char *const *values, double delta)
{
    if (!f || f->type == K8S_METRIC_HISTOGRAM)
        return -EINVAL;
    if (f->type == K8S_METRIC_COUNTER && !(delta >= 0))
        return -EINVAL;
    if (!values_ok(f, values))
        return -EINVAL;
    series *s = series_get(f, values);
    if (!s)
        return -ENOMEM;
    s->value += delta;
    return 0;
}

int k8s_metric_inc(k8s_metric *f, const char *const *values)
{
    return k8s_metric_add(f, values, 1);
}

int k8s_metric_set(k8s_metric *f, const char *const *values, double v)
{
    if (!f || f->type != K8S_METRIC_GAUGE)
        return -EINVAL;
    if (!values_ok(f, values))
        return -EINVAL;
    series *s = series_get(f, values);
    if (!s)
        return -ENOMEM;
    s->value = v;
    return 0;
}

int k8s_metric_observe(k8s_metric *f, const char *const *values, double v)
{
    if (!f || f->type != K8S_METRIC_HISTOGRAM || isnan(v))
        return -EINVAL;
    if (!values_ok(f, values))
        return -EINVAL;
    series *s = series_get(f, values);
    if (!s)
        return -ENOMEM;
    size_t i = 0;
    while (i < f->nbuckets && v > f->buckets[i])
        i++;
    if (i < f->nbuckets)
        s->bucket_counts[i]++;
    s->count++;
    s->sum += v;
    return 0;
}

int k8s_metric_touch(k8s_metric *f, const char *const *values)
{
    if (!f || !values_ok(f, values))
        return -EINVAL;
    return series_get(f, values) ? 0 : -ENOMEM;
}

int k8s_metric_remove(k8s_metric *f, const char *const *values)
{
    if (!f || !values_ok(f, values))
        return -ENOENT;
    series *s = series_find(f, values);
    if (!s)
        return -ENOENT;
    size_t i = (size_t)(s - f->series);
    series_clear(s, f->nlabels);
    memmove(&f->series[i], &f->series[i + 1], (f->nseries - i - 1) * sizeof(series));
    f->nseries--;
    return 0;
}

int k8s_metric_get(const k8s_metric *f, const char *const *values, double *out)
{
    if (!f || !values_ok(f, values))
        return -ENOENT;
    const series *s = series_find(f, values);
    if (!s)
        return -ENOENT;
    *out = f->type == K8S_METRIC_HISTOGRAM ? (double)s->count : s->value;
    return 0;
}

int k8s_metric_get_sum(const k8s_metric *f, const char *const *values, double *out)
{
    if (!f || f->type != K8S_METRIC_HISTOGRAM)
        return -EINVAL;
    if (!values_ok(f, values))
        return -ENOENT;
    const series *s = series_find(f, values);
    if (!s)
        return -ENOENT;
    *out = s->sum;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Text exposition                                                                           */
/* ---------------------------------------------------------------------------------------- */

/*
 * HELP text escapes backslash and newline; label values also escape the double quote. Both as
 * the 0.0.4 format specifies.
 */
static void sb_escaped(k8s__sbuf *b, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            k8s__sb_put(b, "\\\\", 2);
        else if (*s == '\n')
            k8s__sb_put(b, "\\n", 2);
        else if (quote && *s == '"')
            k8s__sb_put(b, "\\\"", 2);
        else
            k8s__sb_put(b, s, 1);
    }
}

/*
 * Shortest text that reads back as the same double, laid out as Go's
 * strconv.FormatFloat(v, 'g', -1, 64), which client_golang uses: exponent form below 1e-4 and
 * from 1e6 up ("1e-05", "100000", "1e+06"). Matching it keeps le="..." label values identical
 * to what Go controllers expose, so recording rules and dashboards line up.
 */
static void format_value(char *out, size_t size, double v)
{
    if (isnan(v)) {
        snprintf(out, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == 0) {
        snprintf(out, size, "0");
        return;
    }
    int digits = 1;
    for (; digits < 17; digits++) {
        snprintf(out, size, "%.*e", digits - 1, v);
        if (strtod(out, NULL) == v)
            break;
    }
    snprintf(out, size, "%.*e", digits - 1, v);
    int exp = atoi(strchr(out, 'e') + 1);
    if (exp < -4 || exp >= 6)
        return;
    /* Fixed notation with exactly the significant digits found above. */
    int decimals = digits - 1 - exp;
    snprintf(out, size, "%.*f", decimals > 0 ? decimals : 0, v);
}

static void sb_value(k8s__sbuf *b, double v)
{
    char num[40];
    format_value(num, sizeof(num), v);
    k8s__sb_str(b, num);
}

/* Writes `name{l1="v1",...,extra_name="extra"}` (braces only when there is a label). */
static void sb_series_name(k8s__sbuf *b, const k8s_metric *f, const char *suffix, const series *s,
                           const char *extra_name, const char *extra)
{
    k8s__sb_str(b, f->name);
    k8s__sb_str(b, suffix);
    if (f->nlabels == 0 && !extra_name)
        return;
    k8s__sb_put(b, "{", 1);
    for (size_t i = 0; i < f->nlabels; i++) {
        if (i)
            k8s__sb_put(b, ",", 1);
        k8s__sb_str(b, f->labels[i]);
        k8s__sb_put(b, "=\"", 2);
        sb_escaped(b, s->values[i], 1);
        k8s__sb_put(b, "\"", 1);
    }
    if (extra_name) {
        if (f->nlabels)
            k8s__sb_put(b, ",", 1);
        k8s__sb_str(b, extra_name);
        k8s__sb_put(b, "=\"", 2);
        k8s__sb_str(b, extra);
        k8s__sb_put(b, "\"", 1);
    }
    k8s__sb_put(b, "}", 1);
}

static int cmp_family(const void *a, const void *b)
{
    const k8s_metric *fa = *(const k8s_metric *const *)a;
    const k8s_metric *fb = *(const k8s_metric *const *)b;
    return strcmp(fa->name, fb->name);
}

/* qsort has no context argument, so each entry carries the label count it compares by. */
typedef struct {
    const series *s;
    size_t nlabels;
} series_ref;

static int cmp_series(const void *a, const void *b)
{
    const series_ref *ra = a, *rb = b;
    for (size_t i = 0; i < ra->nlabels; i++) {
        int c = strcmp(ra->s->values[i], rb->s->values[i]);
        if (c)
            return c;
    }
    return 0;
}

static void render_series(k8s__sbuf *b, const k8s_metric *f, const series *s)
{
    if (f->type != K8S_METRIC_HISTOGRAM) {
        sb_series_name(b, f, "", s, NULL, NULL);
        k8s__sb_put(b, " ", 1);
        sb_value(b, s->value);
        k8s__sb_put(b, "\n", 1);
        return;
    }
    unsigned long long cumulative = 0;
    char le[40];
    for (size_t i = 0; i < f->nbuckets; i++) {
        cumulative += s->bucket_counts[i];
        format_value(le, sizeof(le), f->buckets[i]);
        sb_series_name(b, f, "_bucket", s, "le", le);
        k8s__sb_put(b, " ", 1);
        sb_value(b, (double)cumulative);
        k8s__sb_put(b, "\n", 1);
    }
    sb_series_name(b, f, "_bucket", s, "le", "+Inf");
    k8s__sb_put(b, " ", 1);
    sb_value(b, (double)s->count);
    k8s__sb_put(b, "\n", 1);
    sb_series_name(b, f, "_sum", s, NULL, NULL);
    k8s__sb_put(b, " ", 1);
    sb_value(b, s->sum);
    k8s__sb_put(b, "\n", 1);
    sb_series_name(b, f, "_count", s, NULL, NULL);
    k8s__sb_put(b, " ", 1);
    sb_value(b, (double)s->count);
    k8s__sb_put(b, "\n", 1);
}

int k8s_metrics_render(const k8s_metrics *m, char **out, size_t *len)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    k8s__sbuf b = {0};
    k8s__sb_reserve(&b, 0);
    k8s_metric **sorted = calloc(m->nfamilies ? m->nfamilies : 1, sizeof(*sorted));
    if (!sorted || b.failed) {
        free(sorted);
        free(b.buf);
        return -ENOMEM;
    }
    if (m->nfamilies)
        memcpy(sorted, m->families, m->nfamilies * sizeof(*sorted));
    qsort(sorted, m->nfamilies, sizeof(*sorted), cmp_family);

    for (size_t i = 0; i < m->nfamilies && !b.failed; i++) {
        const k8s_metric *f = sorted[i];
        /* A labelled family with no series yet is left out, as client_golang does. */
        if (f->nseries == 0)
            continue;
        k8s__sb_str(&b, "# HELP ");
        k8s__sb_str(&b, f->name);
        k8s__sb_put(&b, " ", 1);
        sb_escaped(&b, f->help, 0);
        k8s__sb_str(&b, "\n# TYPE ");
        k8s__sb_str(&b, f->name);
        k8s__sb_put(&b, " ", 1);
        k8s__sb_str(&b, type_names[f->type]);
        k8s__sb_put(&b, "\n", 1);

        series_ref *refs = calloc(f->nseries, sizeof(*refs));
        if (!refs) {
            b.failed = 1;
            break;
        }
        for (size_t j = 0; j < f->nseries; j++)
            refs[j] = (series_ref){&f->series[j], f->nlabels};
        qsort(refs, f->nseries, sizeof(*refs), cmp_series);
        for (size_t j = 0; j < f->nseries; j++)
            render_series(&b, f, refs[j].s);
        free(refs);
    }
    free(sorted);
    if (b.failed) {
        free(b.buf);
        return -ENOMEM;
    }
    *out = b.buf;
    *len = b.len;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The standard families                                                                     */
/* ---------------------------------------------------------------------------------------- */

/* controller-runtime's reconcile-time buckets (5 ms … 60 s). */
static const double reconcile_buckets[] = {
    0.005, 0.01, 0.025, 0.05, 0.1,  0.15, 0.2,  0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6,
    0.7,   0.8,  0.9,   1.0,  1.25, 1.5,  1.75, 2.0,  2.5, 3.0,  3.5, 4.0,  4.5, 5,
    6,     7,    8,     9,    10,   15,   20,   25,   30,  40,   50,  60};

/* client-go's REST latency buckets (component-base restclient metrics). */
static const double rest_buckets[] = {0.005, 0.025, 0.1, 0.25, 0.5,  1.0,
                                      2.0,   4.0,   8.0, 15.0, 30.0, 60.0};

/* Registers one of the runtime's own families under the registry's prefix. */
static k8s_metric *own_family(k8s_metrics *m, k8s_metric_type type, const char *suffix,
                              const char *help, const char *const *labels)
{
    char name[128];
    if (own_name(m->prefix, suffix, name, sizeof(name)) != 0)
        return NULL;
    return type == K8S_METRIC_GAUGE ? k8s_metrics_gauge(m, name, help, labels)
                                    : k8s_metrics_counter(m, name, help, labels);
}

/* Takes the program's prefix; a second call must give the same one. */
static int set_prefix(k8s_metrics *m, const char *prefix)
{
    if (m->prefix)
        return strcmp(m->prefix, prefix) == 0 ? 0 : -EINVAL;
    m->prefix = strdup(prefix);
    return m->prefix ? 0 : -ENOMEM;
}

int k8s_metrics_register_standard(k8s_metrics *m, const char *prefix, const char *version)
{
    static const char *const wq[] = {"name", "controller", NULL};
    static const char *const ctl[] = {"controller", NULL};
    static const char *const ctl_result[] = {"controller", "result", NULL};
    static const char *const rest[] = {"code", "method", "host", NULL};
    static const char *const rest_lat[] = {"verb", "host", NULL};
    static const char *const name[] = {"name", NULL};
    static const char *const resource[] = {"resource", NULL};
    static const char *const kind[] = {"kind", NULL};
    static const char *const ver[] = {"version", NULL};
    /* The work-queue latency buckets: ExponentialBuckets(10e-9, 10, 12), 10 ns … 1000 s. */
    double wq_buckets[12];
    double edge = 10e-9;
    for (size_t i = 0; i < 12; i++, edge *= 10)
        wq_buckets[i] = edge;

    if (!m || !version || !prefix || !*prefix)
        return -EINVAL;
    int rc = set_prefix(m, prefix);
    if (rc)
        return rc;
    k8s_metric *ok[18];
    size_t n = 0;
    ok[n++] = k8s_metrics_gauge(m, K8S_M_WORKQUEUE_DEPTH, "Current depth of workqueue", wq);
    ok[n++] = k8s_metrics_counter(m, K8S_M_WORKQUEUE_ADDS,
                                  "Total number of adds handled by workqueue", wq);
    ok[n++] = k8s_metrics_histogram(
        m, K8S_M_WORKQUEUE_QUEUE_DURATION,
        "How long in seconds an item stays in workqueue before being requested", wq, wq_buckets,
        12);
    ok[n++] = k8s_metrics_histogram(m, K8S_M_WORKQUEUE_WORK_DURATION,
                                    "How long in seconds processing an item from workqueue takes.",
                                    wq, wq_buckets, 12);
    ok[n++] = k8s_metrics_counter(m, K8S_M_WORKQUEUE_RETRIES,
                                  "Total number of retries handled by workqueue", wq);
    ok[n++] = k8s_metrics_gauge(
        m, K8S_M_WORKQUEUE_UNFINISHED,
        "How many seconds of work has been done that is in progress and hasn't been observed by "
        "work_duration. Large values indicate stuck threads. One can deduce the number of stuck "
        "threads by observing the rate at which this increases.",
        wq);
    ok[n++] = k8s_metrics_gauge(
        m, K8S_M_WORKQUEUE_LONGEST_RUNNING,
        "How many seconds has the longest running processor for workqueue been running.", wq);
    ok[n++] = k8s_metrics_counter(m, K8S_M_RECONCILE_TOTAL,
                                  "Total number of reconciliations per controller", ctl_result);
    ok[n++] = k8s_metrics_counter(m, K8S_M_RECONCILE_ERRORS,
                                  "Total number of reconciliation errors per controller", ctl);
    ok[n++] = k8s_metrics_histogram(
        m, K8S_M_RECONCILE_TIME, "Length of time per reconciliation per controller", ctl,
        reconcile_buckets, sizeof(reconcile_buckets) / sizeof(reconcile_buckets[0]));
    ok[n++] = k8s_metrics_counter(
        m, K8S_M_REST_REQUESTS,
        "Number of HTTP requests, partitioned by status code, method, and host.", rest);
    ok[n++] = k8s_metrics_histogram(
        m, K8S_M_REST_DURATION, "Request latency in seconds. Broken down by verb, and host.",
        rest_lat, rest_buckets, sizeof(rest_buckets) / sizeof(rest_buckets[0]));
    ok[n++] = k8s_metrics_gauge(
        m, K8S_M_LEADER_STATUS,
        "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 "
        "indicates master. 'name' is the string used to identify the lease. Please make sure to "
        "group by name.",
        name);
    ok[n++] = own_family(m, K8S_METRIC_COUNTER, K8S_M_WATCH_RESTARTS,
                         "Watches restarted after they ended or failed, by resource.", resource);
    ok[n++] = own_family(m, K8S_METRIC_COUNTER, K8S_M_RELISTS,
                         "Full relists after a watch fell too far behind (410 Gone), by resource.",
                         resource);
    ok[n++] = own_family(m, K8S_METRIC_GAUGE, K8S_M_MANAGED_OBJECTS,
                         "Objects the controller currently manages, by kind.", kind);
    ok[n++] = own_family(m, K8S_METRIC_GAUGE, K8S_M_BUILD_INFO,
                         "Build information; the value is always 1.", ver);
    for (size_t i = 0; i < n; i++)
        if (!ok[i])
            return -EINVAL;
    return k8s_metric_set(ok[n - 1], (const char *[]){version}, 1);
}

int k8s_metrics_register_workqueue(k8s_metrics *m, const char *name)
{
    static const char *const families[] = {
        K8S_M_WORKQUEUE_DEPTH,          K8S_M_WORKQUEUE_ADDS,    K8S_M_WORKQUEUE_QUEUE_DURATION,
        K8S_M_WORKQUEUE_WORK_DURATION,  K8S_M_WORKQUEUE_RETRIES, K8S_M_WORKQUEUE_UNFINISHED,
        K8S_M_WORKQUEUE_LONGEST_RUNNING};
    if (!name)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        int rc = k8s_metric_touch(k8s_metrics_find(m, families[i]), (const char *[]){name, name});
        if (rc)
            return rc;
    }
    return 0;
}

int k8s_metrics_register_controller(k8s_metrics *m, const char *controller)
{
    static const char *const results[] = {"success", "error", "requeue", "requeue_after"};
    if (!controller)
        return -EINVAL;
    k8s_metric *total = k8s_metrics_find(m, K8S_M_RECONCILE_TOTAL);
    for (size_t i = 0; i < 4; i++) {
        int rc = k8s_metric_touch(total, (const char *[]){controller, results[i]});
        if (rc)
            return rc;
    }
    int rc =
        k8s_metric_touch(k8s_metrics_find(m, K8S_M_RECONCILE_ERRORS), (const char *[]){controller});
    if (rc)
        return rc;
    return k8s_metric_touch(k8s_metrics_find(m, K8S_M_RECONCILE_TIME),
                            (const char *[]){controller});
}

int k8s_metrics_record_reconcile(k8s_metrics *m, const char *controller, const char *result,
                                 double seconds)
{
    static const char *const results[] = {"success", "error", "requeue", "requeue_after"};
    int known = 0;
    for (size_t i = 0; result && i < 4; i++)
        known |= strcmp(result, results[i]) == 0;
    if (!controller || !known)
        return -EINVAL;
    k8s_metric *total = k8s_metrics_find(m, K8S_M_RECONCILE_TOTAL);
    k8s_metric *errors = k8s_metrics_find(m, K8S_M_RECONCILE_ERRORS);
    k8s_metric *time = k8s_metrics_find(m, K8S_M_RECONCILE_TIME);
    if (!total || !errors || !time)
        return -ENOENT;
    int rc = k8s_metric_inc(total, (const char *[]){controller, result});
    if (!rc && strcmp(result, "error") == 0)
        rc = k8s_metric_inc(errors, (const char *[]){controller});
    if (!rc)
        rc = k8s_metric_observe(time, (const char *[]){controller}, seconds);
    return rc;
}

int k8s_metrics_record_request(k8s_metrics *m, const char *method, const char *host, int code,
                               double seconds)
{
    if (!method || !host)
        return -EINVAL;
    k8s_metric *total = k8s_metrics_find(m, K8S_M_REST_REQUESTS);
    k8s_metric *latency = k8s_metrics_find(m, K8S_M_REST_DURATION);
    if (!total || !latency)
        return -ENOENT;
    char code_text[16];
    if (code > 0)
        snprintf(code_text, sizeof(code_text), "%d", code);
    else
        snprintf(code_text, sizeof(code_text), "<error>");
    int rc = k8s_metric_inc(total, (const char *[]){code_text, method, host});
    if (!rc)
        rc = k8s_metric_observe(latency, (const char *[]){method, host}, seconds);
    return rc;
}
