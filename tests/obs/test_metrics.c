/*
 * Proves k8s/metrics: a small registry renders to exactly the expected Prometheus 0.0.4 text
 * (HELP/TYPE lines, families sorted by name, series sorted by label values, label-value and
 * HELP escaping, shortest float formatting, cumulative histogram buckets with +Inf, _sum and
 * _count); labelled families without series are left out; re-registering the same shape
 * returns the same family while a different shape, invalid names and the reserved "le" label
 * are refused; counters refuse negative increments and type mismatches are errors; the standard
 * families carry the client-go / controller-runtime names, labels and buckets; the record helpers
 * update them as controller-runtime and client-go do; numbers are written exactly as Go's
 * strconv.FormatFloat(v, 'g', -1, 64) writes them.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s/metrics.h"

static char *render(k8s_metrics *m)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(k8s_metrics_render(m, &text, &len), 0);
    assert_int_equal(strlen(text), len);
    return text;
}

static void test_exact_exposition(void **state)
{
    k8s_metrics *m = k8s_metrics_new();
    assert_non_null(m);
    static const char *const code_method[] = {"code", "method", NULL};
    static const char *const path[] = {"path", NULL};
    static const double buckets[] = {0.1, 1, 2.5};

    k8s_metric *req = k8s_metrics_counter(m, "z_requests_total", "Requests by code.", code_method);
    k8s_metric *up = k8s_metrics_gauge(m, "a_up", "Line one\nback\\slash \"quoted\".", NULL);
    k8s_metric *lat = k8s_metrics_histogram(m, "m_latency_seconds", "Latency.", NULL, buckets, 3);
    k8s_metric *odd = k8s_metrics_gauge(m, "n_odd", "Odd label values.", path);
    k8s_metric *empty = k8s_metrics_counter(m, "b_empty_total", "Never used.", path);
    assert_non_null(req);
    assert_non_null(up);
    assert_non_null(lat);
    assert_non_null(odd);
    assert_non_null(empty);

    assert_int_equal(k8s_metric_inc(req, (const char *[]){"200", "GET"}), 0);
    assert_int_equal(k8s_metric_add(req, (const char *[]){"200", "GET"}, 2), 0);
    assert_int_equal(k8s_metric_inc(req, (const char *[]){"404", "GET"}), 0);
    assert_int_equal(k8s_metric_add(req, (const char *[]){"200", "DELETE"}, 0.5), 0);
    assert_int_equal(k8s_metric_set(up, NULL, 1), 0);
    assert_int_equal(k8s_metric_observe(lat, NULL, 0.05), 0);
    assert_int_equal(k8s_metric_observe(lat, NULL, 0.1), 0); /* le is inclusive */
    assert_int_equal(k8s_metric_observe(lat, NULL, 2), 0);
    assert_int_equal(k8s_metric_observe(lat, NULL, 7), 0);
    assert_int_equal(k8s_metric_set(odd, (const char *[]){"a\"b\\c\nd"}, -0.25), 0);
    assert_int_equal(k8s_metric_set(odd, (const char *[]){"plain"}, 1e-9), 0);

    char *text = render(m);
    const char *want = "# HELP a_up Line one\\nback\\\\slash \"quoted\".\n"
                       "# TYPE a_up gauge\n"
                       "a_up 1\n"
                       "# HELP m_latency_seconds Latency.\n"
                       "# TYPE m_latency_seconds histogram\n"
                       "m_latency_seconds_bucket{le=\"0.1\"} 2\n"
                       "m_latency_seconds_bucket{le=\"1\"} 2\n"
                       "m_latency_seconds_bucket{le=\"2.5\"} 3\n"
                       "m_latency_seconds_bucket{le=\"+Inf\"} 4\n"
                       "m_latency_seconds_sum 9.15\n"
                       "m_latency_seconds_count 4\n"
                       "# HELP n_odd Odd label values.\n"
                       "# TYPE n_odd gauge\n"
                       "n_odd{path=\"a\\\"b\\\\c\\nd\"} -0.25\n"
                       "n_odd{path=\"plain\"} 1e-09\n"
                       "# HELP z_requests_total Requests by code.\n"
                       "# TYPE z_requests_total counter\n"
                       "z_requests_total{code=\"200\",method=\"DELETE\"} 0.5\n"
                       "z_requests_total{code=\"200\",method=\"GET\"} 3\n"
                       "z_requests_total{code=\"404\",method=\"GET\"} 1\n";
    assert_string_equal(text, want);
    free(text);

    /* Removing a series takes it out of the output; an emptied family disappears. */
    assert_int_equal(k8s_metric_remove(odd, (const char *[]){"plain"}), 0);
    assert_int_equal(k8s_metric_remove(odd, (const char *[]){"plain"}), -ENOENT);
    assert_int_equal(k8s_metric_remove(odd, (const char *[]){"a\"b\\c\nd"}), 0);
    text = render(m);
    assert_null(strstr(text, "n_odd"));
    free(text);
    k8s_metrics_free(m);
}

static void test_register_rules(void **state)
{
    k8s_metrics *m = k8s_metrics_new();
    static const char *const l1[] = {"a", "b", NULL};
    static const char *const l2[] = {"b", "a", NULL};
    static const char *const dup[] = {"a", "a", NULL};
    static const char *const reserved[] = {"__x", NULL};
    static const char *const le[] = {"le", NULL};
    static const char *const bad_label[] = {"1a", NULL};
    static const double b1[] = {1, 2};
    static const double b1_inf[] = {1, 2, INFINITY};
    static const double unsorted[] = {2, 1};

    k8s_metric *c = k8s_metrics_counter(m, "c_total", "help", l1);
    assert_non_null(c);
    assert_ptr_equal(k8s_metrics_counter(m, "c_total", "other help", l1), c);
    assert_null(k8s_metrics_counter(m, "c_total", "help", l2));
    assert_null(k8s_metrics_gauge(m, "c_total", "help", l1));
    assert_ptr_equal(k8s_metrics_find(m, "c_total"), c);
    assert_null(k8s_metrics_find(m, "nope"));
    assert_int_equal(k8s_metric_type_of(c), K8S_METRIC_COUNTER);

    assert_null(k8s_metrics_gauge(m, "1bad", "help", NULL));
    assert_null(k8s_metrics_gauge(m, "bad-name", "help", NULL));
    assert_null(k8s_metrics_gauge(m, "", "help", NULL));
    assert_non_null(k8s_metrics_gauge(m, "ns:ok_name", "help", NULL));
    assert_null(k8s_metrics_gauge(m, "g", "help", dup));
    assert_null(k8s_metrics_gauge(m, "g", "help", reserved));
    assert_null(k8s_metrics_gauge(m, "g", "help", bad_label));
    assert_non_null(k8s_metrics_gauge(m, "g_le", "le is fine outside histograms", le));
    assert_null(k8s_metrics_histogram(m, "h", "help", le, b1, 2));
    assert_null(k8s_metrics_histogram(m, "h", "help", NULL, unsorted, 2));
    k8s_metric *h = k8s_metrics_histogram(m, "h", "help", NULL, b1, 2);
    assert_non_null(h);
    /* An explicit trailing +Inf is the same shape as leaving it out. */
    assert_ptr_equal(k8s_metrics_histogram(m, "h", "help", NULL, b1_inf, 3), h);
    k8s_metrics_free(m);
}

static void test_update_rules(void **state)
{
    k8s_metrics *m = k8s_metrics_new();
    static const char *const l[] = {"x", NULL};
    static const double b[] = {1};
    k8s_metric *c = k8s_metrics_counter(m, "c_total", "h", l);
    k8s_metric *g = k8s_metrics_gauge(m, "g", "h", l);
    k8s_metric *h = k8s_metrics_histogram(m, "h", "h", l, b, 1);
    const char *const v[] = {"v"};
    double out = -1;

    assert_int_equal(k8s_metric_add(c, v, -1), -EINVAL);
    assert_int_equal(k8s_metric_add(c, v, NAN), -EINVAL);
    assert_int_equal(k8s_metric_set(c, v, 3), -EINVAL);
    assert_int_equal(k8s_metric_observe(c, v, 3), -EINVAL);
    assert_int_equal(k8s_metric_inc(h, v), -EINVAL);
    assert_int_equal(k8s_metric_inc(c, NULL), -EINVAL); /* missing label values */
    assert_int_equal(k8s_metric_get(c, v, &out), -ENOENT);

    assert_int_equal(k8s_metric_touch(c, v), 0);
    assert_int_equal(k8s_metric_get(c, v, &out), 0);
    assert_true(out == 0);
    assert_int_equal(k8s_metric_inc(c, v), 0);
    assert_int_equal(k8s_metric_touch(c, v), 0); /* touching keeps the value */
    assert_int_equal(k8s_metric_get(c, v, &out), 0);
    assert_true(out == 1);

    assert_int_equal(k8s_metric_add(g, v, -2.5), 0);
    assert_int_equal(k8s_metric_get(g, v, &out), 0);
    assert_true(out == -2.5);
    assert_int_equal(k8s_metric_set(g, v, 7), 0);
    assert_int_equal(k8s_metric_get(g, v, &out), 0);
    assert_true(out == 7);

    assert_int_equal(k8s_metric_observe(h, v, 0.5), 0);
    assert_int_equal(k8s_metric_observe(h, v, 4), 0);
    assert_int_equal(k8s_metric_observe(h, v, NAN), -EINVAL);
    assert_int_equal(k8s_metric_get(h, v, &out), 0);
    assert_true(out == 2);
    assert_int_equal(k8s_metric_get_sum(h, v, &out), 0);
    assert_true(out == 4.5);
    assert_int_equal(k8s_metric_get_sum(g, v, &out), -EINVAL);
    k8s_metrics_free(m);
}

static void test_standard_families(void **state)
{
    k8s_metrics *m = k8s_metrics_new();
    assert_int_equal(k8s_metrics_register_standard(m, "meshcluster", "1.2.3"), 0);
    assert_int_equal(k8s_metrics_register_standard(m, "meshcluster", "1.2.3"), 0); /* idempotent */
    assert_int_equal(k8s_metrics_register_workqueue(m, "meshcluster"), 0);
    assert_int_equal(k8s_metrics_register_controller(m, "meshcluster"), 0);

    k8s_metric *total = k8s_metrics_find(m, "controller_runtime_reconcile_total");
    assert_int_equal(k8s_metric_inc(total, (const char *[]){"meshcluster", "success"}), 0);
    k8s_metric *rest = k8s_metrics_find(m, "rest_client_requests_total");
    assert_int_equal(k8s_metric_inc(rest, (const char *[]){"200", "GET", "127.0.0.1:6443"}), 0);
    k8s_metric *wq = k8s_metrics_find(m, "workqueue_queue_duration_seconds");
    assert_int_equal(k8s_metric_observe(wq, (const char *[]){"meshcluster", "meshcluster"}, 2e-3),
                     0);

    char *text = render(m);
    static const char *const lines[] = {
        "# TYPE workqueue_depth gauge\n",
        "workqueue_depth{name=\"meshcluster\",controller=\"meshcluster\"} 0\n",
        "workqueue_adds_total{name=\"meshcluster\",controller=\"meshcluster\"} 0\n",
        "workqueue_retries_total{name=\"meshcluster\",controller=\"meshcluster\"} 0\n",
        "workqueue_unfinished_work_seconds{name=\"meshcluster\",controller=\"meshcluster\"} 0\n",
        "workqueue_longest_running_processor_seconds{name=\"meshcluster\",controller="
        "\"meshcluster\"} 0\n",
        /* ExponentialBuckets(10e-9, 10, 12): 1e-08 … 1000 */
        "workqueue_queue_duration_seconds_bucket{name=\"meshcluster\",controller=\"meshcluster\","
        "le=\"1e-08\"} 0\n",
        "workqueue_queue_duration_seconds_bucket{name=\"meshcluster\",controller=\"meshcluster\","
        "le=\"0.001\"} 0\n",
        "workqueue_queue_duration_seconds_bucket{name=\"meshcluster\",controller=\"meshcluster\","
        "le=\"0.01\"} 1\n",
        "workqueue_queue_duration_seconds_bucket{name=\"meshcluster\",controller=\"meshcluster\","
        "le=\"1000\"} 1\n",
        "workqueue_work_duration_seconds_count{name=\"meshcluster\",controller=\"meshcluster\"} "
        "0\n",
        "# TYPE controller_runtime_reconcile_total counter\n",
        "controller_runtime_reconcile_total{controller=\"meshcluster\",result=\"error\"} 0\n",
        "controller_runtime_reconcile_total{controller=\"meshcluster\",result=\"requeue\"} 0\n",
        "controller_runtime_reconcile_total{controller=\"meshcluster\",result=\"requeue_after\"} "
        "0\n",
        "controller_runtime_reconcile_total{controller=\"meshcluster\",result=\"success\"} 1\n",
        "controller_runtime_reconcile_errors_total{controller=\"meshcluster\"} 0\n",
        "controller_runtime_reconcile_time_seconds_bucket{controller=\"meshcluster\",le=\"0.005\"} "
        "0\n",
        "controller_runtime_reconcile_time_seconds_bucket{controller=\"meshcluster\",le=\"60\"} "
        "0\n",
        "rest_client_requests_total{code=\"200\",method=\"GET\",host=\"127.0.0.1:6443\"} 1\n",
        "# TYPE rest_client_request_duration_seconds histogram\n",
        "meshcluster_build_info{version=\"1.2.3\"} 1\n",
        "# TYPE leader_election_master_status gauge\n",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        const char *line = lines[i];
        /* HELP/TYPE of labelled families without series are omitted, so only check those that
         * have series; rest_client_request_duration_seconds and the leader gauge have none. */
        if (strstr(line, "rest_client_request_duration") || strstr(line, "leader_election")) {
            assert_null(strstr(text, line));
            continue;
        }
        if (!strstr(text, line))
            fail_msg("missing line: %s", line);
    }
    /* 12 finite workqueue buckets + Inf, and 40 reconcile buckets + Inf. */
    size_t wq_buckets = 0, rec_buckets = 0;
    for (const char *p = text; (p = strstr(p, "workqueue_work_duration_seconds_bucket{")); p++)
        wq_buckets++;
    for (const char *p = text; (p = strstr(p, "controller_runtime_reconcile_time_seconds_bucket{"));
         p++)
        rec_buckets++;
    assert_int_equal(wq_buckets, 13);
    assert_int_equal(rec_buckets, 41);
    free(text);

    k8s_metric *leader = k8s_metrics_find(m, "leader_election_master_status");
    assert_int_equal(k8s_metric_set(leader, (const char *[]){"meshcluster-lock"}, 1), 0);
    text = render(m);
    assert_non_null(strstr(text, "leader_election_master_status{name=\"meshcluster-lock\"} 1\n"));
    free(text);
    assert_int_equal(k8s_metrics_register_standard(m, "meshcluster", NULL), -EINVAL);
    /* The runtime's own families carry the program's prefix, and only one prefix. */
    assert_int_equal(k8s_metrics_register_standard(m, "other", "1.2.3"), -EINVAL);
    assert_int_equal(k8s_metrics_register_standard(m, NULL, "1.2.3"), -EINVAL);
    assert_non_null(k8s_metrics_find_own(m, K8S_M_RELISTS));
    assert_ptr_equal(k8s_metrics_find_own(m, K8S_M_RELISTS),
                     k8s_metrics_find(m, "meshcluster_relists_total"));
    assert_null(k8s_metrics_find(m, K8S_M_RELISTS));
    k8s_metrics_free(m);
}

static void test_record_helpers(void **state)
{
    k8s_metrics *m = k8s_metrics_new();
    assert_int_equal(k8s_metrics_record_reconcile(m, "mc", "success", 0.1), -ENOENT);
    assert_int_equal(k8s_metrics_register_standard(m, "meshcluster", "1"), 0);
    assert_int_equal(k8s_metrics_record_reconcile(m, "mc", "success", 0.1), 0);
    assert_int_equal(k8s_metrics_record_reconcile(m, "mc", "error", 0.3), 0);
    assert_int_equal(k8s_metrics_record_reconcile(m, "mc", "requeue_after", 0.2), 0);
    assert_int_equal(k8s_metrics_record_reconcile(m, "mc", "exploded", 0.2), -EINVAL);
    double v = 0;
    k8s_metric *total = k8s_metrics_find(m, K8S_M_RECONCILE_TOTAL);
    assert_int_equal(k8s_metric_get(total, (const char *[]){"mc", "error"}, &v), 0);
    assert_true(v == 1);
    assert_int_equal(
        k8s_metric_get(k8s_metrics_find(m, K8S_M_RECONCILE_ERRORS), (const char *[]){"mc"}, &v), 0);
    assert_true(v == 1);
    k8s_metric *time = k8s_metrics_find(m, K8S_M_RECONCILE_TIME);
    assert_int_equal(k8s_metric_get(time, (const char *[]){"mc"}, &v), 0);
    assert_true(v == 3);

    assert_int_equal(k8s_metrics_record_request(m, "GET", "10.0.0.1:443", 200, 0.01), 0);
    assert_int_equal(k8s_metrics_record_request(m, "PATCH", "10.0.0.1:443", 0, 2), 0);
    k8s_metric *req = k8s_metrics_find(m, K8S_M_REST_REQUESTS);
    assert_int_equal(k8s_metric_get(req, (const char *[]){"200", "GET", "10.0.0.1:443"}, &v), 0);
    assert_true(v == 1);
    assert_int_equal(k8s_metric_get(req, (const char *[]){"<error>", "PATCH", "10.0.0.1:443"}, &v),
                     0);
    assert_true(v == 1);
    assert_int_equal(k8s_metric_get_sum(k8s_metrics_find(m, K8S_M_REST_DURATION),
                                        (const char *[]){"PATCH", "10.0.0.1:443"}, &v),
                     0);
    assert_true(v == 2);
    k8s_metrics_free(m);
}

static void test_float_format_matches_go(void **state)
{
    /* strconv.FormatFloat(v, 'g', -1, 64) for each value, as client_golang writes them. */
    static const struct {
        double v;
        const char *text;
    } cases[] = {{0, "0"},
                 {1, "1"},
                 {-1, "-1"},
                 {0.1, "0.1"},
                 {100000, "100000"},
                 {1e6, "1e+06"},
                 {1234567, "1.234567e+06"},
                 {0.0001, "0.0001"},
                 {1e-5, "1e-05"},
                 {0.30000000000000004, "0.30000000000000004"},
                 {2.5, "2.5"},
                 {-0.25, "-0.25"},
                 {123.456, "123.456"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        k8s_metrics *m = k8s_metrics_new();
        k8s_metric *g = k8s_metrics_gauge(m, "g", "h", NULL);
        assert_int_equal(k8s_metric_set(g, NULL, cases[i].v), 0);
        char *text = render(m);
        char want[96];
        snprintf(want, sizeof(want), "\ng %s\n", cases[i].text);
        if (!strstr(text, want))
            fail_msg("%g rendered as: %s", cases[i].v, text);
        free(text);
        k8s_metrics_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_exposition), cmocka_unit_test(test_register_rules),
        cmocka_unit_test(test_update_rules),     cmocka_unit_test(test_standard_families),
        cmocka_unit_test(test_record_helpers),   cmocka_unit_test(test_float_format_matches_go),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
