/*
 * Proves the path and URL builder (k8s/request): core vs named groups, namespaced vs
 * cluster-scoped, collections, names, subresources, percent-encoding of unsafe characters,
 * refusal of incomplete references and of buffers that are too small; and per-verb query
 * strings: list (selectors encoded, limit, continue, resourceVersion, match), watch
 * (watch=true, bookmarks, timeoutSeconds, sendInitialEvents), apply (fieldManager, force),
 * create/update (fieldManager, dryRun), get (resourceVersion), and verb/name mismatches.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "k8s/request.h"

static void expect_path(const k8s_resource_ref *ref, const char *want)
{
    char buf[256];
    int n = k8s_path_build(buf, sizeof(buf), ref);
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(buf, want);
}

static void test_paths(void **state)
{
    expect_path(&(k8s_resource_ref){.version = "v1", .resource = "namespaces"},
                "/api/v1/namespaces");
    expect_path(&(k8s_resource_ref){.version = "v1", .resource = "namespaces", .name = "a"},
                "/api/v1/namespaces/a");
    expect_path(
        &(k8s_resource_ref){
            .group = "", .version = "v1", .resource = "configmaps", .namespace = "ns"},
        "/api/v1/namespaces/ns/configmaps");
    expect_path(&(k8s_resource_ref){.version = "v1", .resource = "configmaps"},
                "/api/v1/configmaps");
    expect_path(&(k8s_resource_ref){.group = "coordination.k8s.io",
                                    .version = "v1",
                                    .resource = "leases",
                                    .namespace = "kube-system",
                                    .name = "meshcluster"},
                "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/meshcluster");
    expect_path(&(k8s_resource_ref){.group = "mesh.example.io",
                                    .version = "v1alpha1",
                                    .resource = "meshclusters",
                                    .name = "east",
                                    .subresource = "status"},
                "/apis/mesh.example.io/v1alpha1/meshclusters/east/status");
    expect_path(
        &(k8s_resource_ref){
            .version = "v1", .resource = "secrets", .namespace = "n s", .name = "a/b?c#d%"},
        "/api/v1/namespaces/n%20s/secrets/a%2Fb%3Fc%23d%25");
}

static void test_path_errors(void **state)
{
    char buf[64];
    assert_int_equal(k8s_path_build(buf, sizeof(buf), &(k8s_resource_ref){.resource = "x"}),
                     -EINVAL);
    assert_int_equal(k8s_path_build(buf, sizeof(buf), &(k8s_resource_ref){.version = "v1"}),
                     -EINVAL);
    assert_int_equal(
        k8s_path_build(
            buf, sizeof(buf),
            &(k8s_resource_ref){.version = "v1", .resource = "pods", .subresource = "status"}),
        -EINVAL);
    char tiny[10];
    assert_int_equal(k8s_path_build(tiny, sizeof(tiny),
                                    &(k8s_resource_ref){.version = "v1", .resource = "pods"}),
                     -ENAMETOOLONG);
    /* Exactly fitting: "/api/v1/pods" is 12 bytes + NUL. */
    char exact[13];
    assert_int_equal(k8s_path_build(exact, sizeof(exact),
                                    &(k8s_resource_ref){.version = "v1", .resource = "pods"}),
                     12);
}

static void expect_url(const k8s_request_opts *o, const char *want)
{
    char *url = NULL;
    assert_int_equal(k8s_request_url("https://127.0.0.1:6443/", o, &url), 0);
    assert_string_equal(url, want);
    free(url);
}

static void test_query_strings(void **state)
{
    k8s_resource_ref cms = {.version = "v1", .resource = "configmaps", .namespace = "ns"};
    expect_url(&(k8s_request_opts){.verb = K8S_VERB_LIST,
                                   .ref = cms,
                                   .label_selector = "app=x,tier in (a,b)",
                                   .limit = 500,
                                   .continue_token = "abc=="},
               "https://127.0.0.1:6443/api/v1/namespaces/ns/configmaps"
               "?labelSelector=app%3Dx%2Ctier%20in%20%28a%2Cb%29&continue=abc%3D%3D&limit=500");
    expect_url(&(k8s_request_opts){.verb = K8S_VERB_LIST,
                                   .ref = cms,
                                   .resource_version = "0",
                                   .resource_version_match = "NotOlderThan"},
               "https://127.0.0.1:6443/api/v1/namespaces/ns/configmaps"
               "?resourceVersion=0&resourceVersionMatch=NotOlderThan");
    expect_url(&(k8s_request_opts){.verb = K8S_VERB_WATCH,
                                   .ref = cms,
                                   .resource_version = "42",
                                   .allow_watch_bookmarks = true,
                                   .timeout_seconds = 377,
                                   .field_selector = "metadata.name=a"},
               "https://127.0.0.1:6443/api/v1/namespaces/ns/configmaps?watch=true"
               "&allowWatchBookmarks=true&fieldSelector=metadata.name%3Da&resourceVersion=42"
               "&timeoutSeconds=377");
    expect_url(&(k8s_request_opts){.verb = K8S_VERB_WATCH, .ref = cms, .send_initial_events = true},
               "https://127.0.0.1:6443/api/v1/namespaces/ns/configmaps?watch=true"
               "&sendInitialEvents=true");
    k8s_resource_ref one = cms;
    one.name = "a";
    expect_url(&(k8s_request_opts){.verb = K8S_VERB_PATCH,
                                   .ref = one,
                                   .patch_type = K8S_PATCH_APPLY,
                                   .field_manager = "meshcluster",
                                   .force = true},
               "https://127.0.0.1:6443/api/v1/namespaces/ns/configmaps/a?force=true"
               "&fieldManager=meshcluster");
    expect_url(&(k8s_request_opts){.verb = K8S_VERB_PATCH, .ref = one, .force = true},
               "https://127.0.0.1:6443/api/v1/namespaces/ns/configmaps/a");
    expect_url(
        &(k8s_request_opts){
            .verb = K8S_VERB_CREATE, .ref = cms, .dry_run = "All", .field_manager = "m"},
        "https://127.0.0.1:6443/api/v1/namespaces/ns/configmaps?fieldManager=m&dryRun=All");
    expect_url(&(k8s_request_opts){.verb = K8S_VERB_GET, .ref = one, .resource_version = "0"},
               "https://127.0.0.1:6443/api/v1/namespaces/ns/configmaps/a?resourceVersion=0");
    expect_url(&(k8s_request_opts){.verb = K8S_VERB_UPDATE, .ref = one, .resource_version = "7"},
               "https://127.0.0.1:6443/api/v1/namespaces/ns/configmaps/a");
    expect_url(&(k8s_request_opts){.verb = K8S_VERB_DELETE, .ref = one},
               "https://127.0.0.1:6443/api/v1/namespaces/ns/configmaps/a");
}

static void test_url_errors(void **state)
{
    char *url = (char *)1;
    k8s_resource_ref cms = {.version = "v1", .resource = "configmaps", .namespace = "ns"};
    k8s_resource_ref one = cms;
    one.name = "a";
    /* Apply without a field manager is refused before anything is sent. */
    assert_int_equal(
        k8s_request_url(
            "https://h",
            &(k8s_request_opts){.verb = K8S_VERB_PATCH, .ref = one, .patch_type = K8S_PATCH_APPLY},
            &url),
        -EINVAL);
    assert_null(url);
    assert_int_equal(
        k8s_request_url("https://h", &(k8s_request_opts){.verb = K8S_VERB_GET, .ref = cms}, &url),
        -EINVAL);
    assert_int_equal(
        k8s_request_url("https://h", &(k8s_request_opts){.verb = K8S_VERB_LIST, .ref = one}, &url),
        -EINVAL);
    assert_int_equal(k8s_request_url("https://h",
                                     &(k8s_request_opts){.verb = K8S_VERB_CREATE, .ref = one},
                                     &url),
                     -EINVAL);
    assert_int_equal(k8s_request_url(NULL, &(k8s_request_opts){.ref = one}, &url), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_path_errors),
        cmocka_unit_test(test_query_strings),
        cmocka_unit_test(test_url_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
