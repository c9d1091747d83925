/*
 * Proves k8s/yaml reads YAML the way kubectl (sigs.k8s.io/yaml) types it, refuses what it
 * cannot represent with a line:column message, resolves anchors safely, and that what
 * k8s_yaml_emit writes parses back to the identical value (round trips), including a real
 * kubeconfig and multi-document files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/yaml.h"

static char *read_fixture(const char *name, size_t *len)
{
    const char *src = getenv("MC_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/yaml/fixtures/%s", src ? src : ".", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Parses "v: <text>" and compares the value of v with the JSON text expected. */
static void expect_scalar(const char *yaml_value, const char *json)
{
    char buf[256], err[256];
    snprintf(buf, sizeof(buf), "v: %s\n", yaml_value);
    cJSON *doc = k8s_yaml_parse_one(buf, strlen(buf), err, sizeof(err));
    if (!doc)
        fail_msg("parse of %s failed: %s", yaml_value, err);
    cJSON *want = cJSON_Parse(json);
    assert_non_null(want);
    cJSON *got = cJSON_GetObjectItemCaseSensitive(doc, "v");
    if (!cJSON_Compare(got, want, 1)) {
        char *g = cJSON_PrintUnformatted(got);
        fail_msg("%s: got %s want %s", yaml_value, g, json);
    }
    cJSON_Delete(want);
    cJSON_Delete(doc);
}

static void expect_parse_error(const char *yaml, const char *fragment)
{
    char err[256];
    cJSON *doc = k8s_yaml_parse_all(yaml, strlen(yaml), err, sizeof(err));
    if (doc) {
        char *t = cJSON_PrintUnformatted(doc);
        fail_msg("expected an error for %s, got %s", yaml, t);
    }
    if (!strstr(err, fragment))
        fail_msg("error \"%s\" lacks \"%s\"", err, fragment);
}

static void test_scalar_typing(void **state)
{
    (void)state;
    expect_scalar("true", "true");
    expect_scalar("False", "false");
    expect_scalar("yes", "true");
    expect_scalar("off", "false");
    expect_scalar("y", "true");
    expect_scalar("N", "false");
    expect_scalar("null", "null");
    expect_scalar("~", "null");
    expect_scalar("", "null");
    expect_scalar("15443", "15443");
    expect_scalar("-7", "-7");
    expect_scalar("+3", "3");
    expect_scalar("0x1F", "31");
    expect_scalar("0o17", "15");
    expect_scalar("017", "15");
    expect_scalar("09", "9");
    expect_scalar("0b101", "5");
    expect_scalar("1_000", "1000");
    expect_scalar("1.5", "1.5");
    expect_scalar(".5", "0.5");
    expect_scalar("1e3", "1000");
    expect_scalar("-2.5E-1", "-0.25");
    expect_scalar("\"true\"", "\"true\"");
    expect_scalar("'15443'", "\"15443\"");
    expect_scalar("\"\"", "\"\"");
    expect_scalar("!!str 12", "\"12\"");
    expect_scalar("!!int \"12\"", "12");
    expect_scalar("100m", "\"100m\"");
    expect_scalar("tag:istio-eastwestgateway", "\"tag:istio-eastwestgateway\"");
    expect_scalar("1.2.3", "\"1.2.3\"");
    expect_scalar("0x", "\"0x\"");
    expect_scalar("TrUe", "\"TrUe\"");
    expect_scalar("\"*.local\"", "\"*.local\"");
    expect_scalar("2001-12-14", "\"2001-12-14\"");
    expect_scalar("[1, a, {b: c}]", "[1, \"a\", {\"b\": \"c\"}]");
    expect_scalar("{}", "{}");
}

static void test_duplicate_after_key_typing(void **state)
{
    (void)state;
    expect_parse_error("on: 1\n\"true\": 2\n", "line 2, column 1: duplicate key \"true\"");
    expect_parse_error("a: 1\nb: 2\na: 3\n", "line 3, column 1: duplicate key \"a\"");
}

static void test_key_formatting(void **state)
{
    (void)state;
    const char *y = "on: 1\n2: two\n~: x\n1.5: f\n0x10: h\n";
    char err[256];
    cJSON *doc = k8s_yaml_parse_one(y, strlen(y), err, sizeof(err));
    if (!doc)
        fail_msg("%s", err);
    cJSON *want =
        cJSON_Parse("{\"true\":1,\"2\":\"two\",\"null\":\"x\",\"1.5\":\"f\",\"16\":\"h\"}");
    assert_true(cJSON_Compare(doc, want, 1));
    cJSON_Delete(want);
    cJSON_Delete(doc);
}

static void test_errors_have_positions(void **state)
{
    (void)state;
    expect_parse_error("a: [1, 2\n", "line 2, column 1");
    expect_parse_error("a: b\n  c: d\n", "line 2, column 4");
    expect_parse_error("a: *nope\n", "line 1, column 4: unknown or recursive alias *nope");
    expect_parse_error("a: &x [1, *x]\n", "unknown or recursive alias *x");
    expect_parse_error("? [a]\n: b\n", "line 1, column 3: mapping keys must be scalars");
    expect_parse_error("a: .inf\n", "not a finite number");
    expect_parse_error("a: !!int abc\n", "cannot decode \"abc\" as !!int");
    expect_parse_error("a: 1e999\n", "not a finite number");
    expect_parse_error("<<: 1\n", "merge key");
}

static void test_depth_limit(void **state)
{
    (void)state;
    size_t n = K8S_YAML_MAX_DEPTH + 10;
    char *y = malloc(2 * n + 1);
    assert_non_null(y);
    for (size_t i = 0; i < n; i++)
        y[i] = '[';
    for (size_t i = 0; i < n; i++)
        y[n + i] = ']';
    y[2 * n] = '\0';
    expect_parse_error(y, "nesting deeper than");
    free(y);
}

static void test_aliases_and_merge(void **state)
{
    (void)state;
    const char *y = "base: &b {x: 1, z: 2}\n"
                    "copy: *b\n"
                    "list: &l [a, b]\n"
                    "again: *l\n"
                    "merged:\n"
                    "  <<: *b\n"
                    "  z: 3\n"
                    "multi:\n"
                    "  <<: [{p: 1}, {p: 2, q: 2}]\n"
                    "&k key: *k\n";
    char err[256];
    cJSON *doc = k8s_yaml_parse_one(y, strlen(y), err, sizeof(err));
    if (!doc)
        fail_msg("%s", err);
    cJSON *want = cJSON_Parse("{\"base\":{\"x\":1,\"z\":2},\"copy\":{\"x\":1,\"z\":2},"
                              "\"list\":[\"a\",\"b\"],\"again\":[\"a\",\"b\"],"
                              "\"merged\":{\"z\":3,\"x\":1},\"multi\":{\"p\":1,\"q\":2},"
                              "\"key\":\"key\"}");
    if (!cJSON_Compare(doc, want, 1))
        fail_msg("got %s", cJSON_PrintUnformatted(doc));
    cJSON_Delete(want);
    cJSON_Delete(doc);
}

static void test_alias_bomb_refused(void **state)
{
    (void)state;
    const char *y = "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
                    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n";
    expect_parse_error(y, "refusing");
}

static void test_parse_one_counts(void **state)
{
    (void)state;
    char err[256];
    assert_null(k8s_yaml_parse_one("", 0, err, sizeof(err)));
    assert_string_equal(err, "no YAML document found");
    assert_null(k8s_yaml_parse_one("a: 1\n---\nb: 2\n", 14, err, sizeof(err)));
    assert_string_equal(err, "expected one YAML document, found 2");
    assert_null(k8s_yaml_parse_one("# only a comment\n", 17, err, sizeof(err)));
}

static void test_multi_document_fixture(void **state)
{
    (void)state;
    size_t len;
    char *buf = read_fixture("multi.yaml", &len);
    char err[256];
    cJSON *docs = k8s_yaml_parse_all(buf, len, err, sizeof(err));
    if (!docs)
        fail_msg("%s", err);
    assert_int_equal(cJSON_GetArraySize(docs), 2);
    cJSON *data = cJSON_GetObjectItem(cJSON_GetArrayItem(docs, 0), "data");
    assert_string_equal(cJSON_GetObjectItem(data, "port")->valuestring, "15443");
    assert_string_equal(cJSON_GetObjectItem(data, "enabled")->valuestring, "true");
    assert_string_equal(cJSON_GetObjectItem(data, "empty")->valuestring, "");
    assert_string_equal(cJSON_GetObjectItem(data, "script")->valuestring, "line one\nline two\n");

    char *out = k8s_yaml_emit_all(docs);
    assert_non_null(out);
    assert_true(strncmp(out, "---\n", 4) == 0);
    assert_non_null(strstr(out, "  port: \"15443\"\n"));
    assert_non_null(strstr(out, "  enabled: \"true\"\n"));
    assert_non_null(strstr(out, "  empty: \"\"\n"));
    assert_non_null(strstr(out, "  script: |\n    line one\n    line two\n"));
    assert_non_null(strstr(out, "items: []\n"));
    cJSON *back = k8s_yaml_parse_all(out, strlen(out), err, sizeof(err));
    assert_non_null(back);
    assert_true(cJSON_Compare(docs, back, 1));
    cJSON_Delete(back);
    free(out);
    cJSON_Delete(docs);
    free(buf);
}

static void test_kubeconfig(void **state)
{
    (void)state;
    size_t len;
    char *buf = read_fixture("kubeconfig.yaml", &len);
    char err[256];
    cJSON *kc = k8s_yaml_parse_one(buf, len, err, sizeof(err));
    if (!kc)
        fail_msg("%s", err);
    assert_string_equal(cJSON_GetObjectItem(kc, "current-context")->valuestring, "kind-a");
    cJSON *c1 = cJSON_GetArrayItem(cJSON_GetObjectItem(kc, "clusters"), 1);
    cJSON *cl = cJSON_GetObjectItem(c1, "cluster");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cl, "insecure-skip-tls-verify")));
    assert_string_equal(cJSON_GetObjectItem(cl, "server")->valuestring,
                        "https://cluster2-k8s-operator.your-tailnet.ts.net");
    cJSON *u0 = cJSON_GetArrayItem(cJSON_GetObjectItem(kc, "users"), 0);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(u0, "user"), "token")->valuestring,
                        "12345");
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(kc, "preferences")));

    char *out = k8s_yaml_emit(kc);
    assert_non_null(out);
    assert_non_null(strstr(out, "token: \"12345\"\n"));
    assert_non_null(strstr(out, "server: \"https://127.0.0.1:6443\"\n"));
    cJSON *back = k8s_yaml_parse_one(out, strlen(out), err, sizeof(err));
    assert_non_null(back);
    assert_true(cJSON_Compare(kc, back, 1));
    cJSON_Delete(back);
    free(out);
    cJSON_Delete(kc);
    free(buf);
}

static void test_emit_round_trips_tricky_strings(void **state)
{
    (void)state;
    static const char *const strings[] = {"true",
                                          "False",
                                          "yes",
                                          "on",
                                          "y",
                                          "n",
                                          "null",
                                          "~",
                                          "",
                                          "15443",
                                          "0x1F",
                                          "017",
                                          "1_000",
                                          "1e3",
                                          ".5",
                                          "-1",
                                          "+1",
                                          ".inf",
                                          ".nan",
                                          "a: b",
                                          "a:b",
                                          "#x",
                                          "x #y",
                                          "- a",
                                          "-",
                                          "?",
                                          "[a]",
                                          "{a}",
                                          "*x",
                                          "&x",
                                          "!x",
                                          "|",
                                          ">",
                                          "'q'",
                                          "\"d\"",
                                          "%x",
                                          "@x",
                                          "`x",
                                          " lead",
                                          "trail ",
                                          "tab\there",
                                          "line1\nline2",
                                          "line1\nline2\n",
                                          "ends\n\n",
                                          "\nleading newline",
                                          "  indented\nblock",
                                          "<<",
                                          "=",
                                          "2001-12-14",
                                          "100m",
                                          "tag:istio-eastwestgateway",
                                          "*.local",
                                          "unicode é ✓",
                                          "back\\slash",
                                          "cr\rhere",
                                          "trailing spaces   \nline",
                                          "1:20",
                                          "0b101",
                                          "1.2.3",
                                          "v1.2",
                                          "-.5e3",
                                          NULL};
    cJSON *doc = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(doc, "list");
    for (size_t i = 0; strings[i]; i++) {
        cJSON_AddItemToArray(list, cJSON_CreateString(strings[i]));
        cJSON_AddStringToObject(doc, strings[i], "as a key");
    }
    cJSON_AddNumberToObject(doc, "int", 15443);
    cJSON_AddNumberToObject(doc, "neg", -3);
    cJSON_AddNumberToObject(doc, "frac", 0.1);
    cJSON_AddNumberToObject(doc, "big", 1e20);
    cJSON_AddNumberToObject(doc, "tiny", 1.5e-7);
    cJSON_AddBoolToObject(doc, "bool", 1);
    cJSON_AddNullToObject(doc, "nothing");
    cJSON_AddObjectToObject(doc, "emptymap");
    cJSON_AddArrayToObject(doc, "emptylist");

    char *out = k8s_yaml_emit(doc);
    assert_non_null(out);
    char err[256];
    cJSON *back = k8s_yaml_parse_one(out, strlen(out), err, sizeof(err));
    if (!back)
        fail_msg("%s\n%s", err, out);
    if (!cJSON_Compare(doc, back, 1))
        fail_msg("round trip changed the value:\n%s", out);
    cJSON_Delete(back);
    free(out);
    cJSON_Delete(doc);
}

static void test_emit_style(void **state)
{
    (void)state;
    cJSON *doc =
        cJSON_Parse("{\"metadata\":{\"name\":\"x\",\"labels\":{\"istio/multiCluster\":"
                    "\"true\"}},\"ports\":[{\"port\":15443,\"name\":\"tls\"}],"
                    "\"kc\":\"a: 1\\nb: 2\\n\",\"long\":\"" /* no folding */
                    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbb"
                    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}");
    assert_non_null(doc);
    char *out = k8s_yaml_emit(doc);
    assert_non_null(out);
    const char *want = "metadata:\n"
                       "  name: x\n"
                       "  labels:\n"
                       "    istio/multiCluster: \"true\"\n"
                       "ports:\n"
                       "- port: 15443\n"
                       "  name: tls\n"
                       "kc: |\n"
                       "  a: 1\n"
                       "  b: 2\n"
                       "long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
                       "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                       "bbbbbbbbbbbbb\n";
    assert_string_equal(out, want);
    free(out);
    cJSON_Delete(doc);

    cJSON *empty = cJSON_CreateArray();
    out = k8s_yaml_emit_all(empty);
    assert_string_equal(out, "");
    free(out);
    cJSON_Delete(empty);
}

static void test_needs_quotes(void **state)
{
    (void)state;
    assert_true(k8s_yaml_string_needs_quotes("true"));
    assert_true(k8s_yaml_string_needs_quotes("15443"));
    assert_true(k8s_yaml_string_needs_quotes(""));
    assert_true(k8s_yaml_string_needs_quotes("a:b"));
    assert_false(k8s_yaml_string_needs_quotes("cluster1"));
    assert_false(k8s_yaml_string_needs_quotes("istio-system"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar_typing),
        cmocka_unit_test(test_duplicate_after_key_typing),
        cmocka_unit_test(test_key_formatting),
        cmocka_unit_test(test_errors_have_positions),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_aliases_and_merge),
        cmocka_unit_test(test_alias_bomb_refused),
        cmocka_unit_test(test_parse_one_counts),
        cmocka_unit_test(test_multi_document_fixture),
        cmocka_unit_test(test_kubeconfig),
        cmocka_unit_test(test_emit_round_trips_tricky_strings),
        cmocka_unit_test(test_emit_style),
        cmocka_unit_test(test_needs_quotes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
