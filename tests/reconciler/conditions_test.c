/*
 * The MeshCluster conditions as a pure function (controller/conditions.h), table-driven and
 * without a server: one row per reason the controller decides, each an observation that
 * differs from a healthy remote in one way, with the condition and Ready it must give; then
 * every reason another module names (validation, the token reader, the trust check) passed
 * through; then the README's "Conditions and what to do" table read back, so that a reason
 * documented there without a row here fails the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "controller/conditions.h"

static const struct mc_field_error invalid_port = {"InvalidPort", "spec.gateway.port",
                                                   "must be 1-65535"};
static const struct mc_field_error no_reason = {"", "spec", "is not an object"};
static const struct mc_field_error token_missing = {"TokenSecretMissing", "spec.remoteSecret",
                                                    "Secret t/x does not exist"};

/* A remote in a healthy mesh: every condition True. */
static struct mc_observation healthy(void)
{
    return (struct mc_observation){
        .accepted = true,
        .egress_services = true,
        .remote_secret = true,
        .gateway_service = true,
        .gateway_address = "b-istio-eastwestgateway.istio-system.svc.cluster.local",
        .meshnet = {.state = MC_MESHNET_APPLIED},
        .trust_status = "True",
        .trust_reason = "RootMatches",
        .trust_message = "",
    };
}

/* The one way a row's observation differs from healthy(). */
enum change {
    NOTHING,
    LOCAL,
    LOCAL_NO_ADDRESS,
    REJECTED,
    REJECTED_NO_REASON,
    EGRESS_APPLY_FAILED,
    EGRESS_MISSING,
    PROXY_NOT_READY,
    SECRET_APPLY_FAILED,
    TOKEN_PENDING,
    TOKEN_PROBLEM,
    SECRET_MISSING,
    GATEWAY_APPLY_FAILED,
    GATEWAY_CONFLICT,
    GATEWAY_CLASS,
    GATEWAY_MISSING,
    MESHNET_FAILED,
    MESHNET_CONFLICT,
    MESHNET_CM_MISSING,
    MESHNET_PENDING,
    TRUST_MISMATCH,
    TRUST_UNKNOWN,
    LOCAL_WRONG_TAILNET,
    PROBES_UP,
    PROBES_UNKNOWN,
    GATEWAY_UNKNOWN,
    API_DOWN_RESOLVE, /* the API path down, one failure class each */
    API_DOWN_CONNECT,
    API_DOWN_TLS,
    API_DOWN_TIMEOUT,
    API_DOWN_HTTP,
    API_DOWN_TRANSPORT,
    GATEWAY_DOWN_RESOLVE, /* the gateway path down, likewise */
    GATEWAY_DOWN_CONNECT,
    GATEWAY_DOWN_TLS,
    GATEWAY_DOWN_TIMEOUT,
    GATEWAY_DOWN_HTTP,
    GATEWAY_DOWN_TRANSPORT,
    ISTIOD_SYNCED, /* istiod watched: one verdict each */
    ISTIOD_SYNCING,
    ISTIOD_TIMEOUT,
    ISTIOD_CLOSED,
    ISTIOD_NOT_LOADED,
    ISTIOD_NOT_LOADED_LATE,
    ISTIOD_UNREACHABLE,
    ISTIOD_OTHER,
};

/* The failure of each *_DOWN_* change, in the order of K8S_PROBE_RESOLVE... */
static const char *const down_detail[] = {
    "Could not resolve host", "connection refused", "SSL certificate problem", "", "HTTP 401",
    "reset by peer"};

static const struct mc_probe_state probe_up = {.status = MC_PROBE_UP, .seconds = 0.0124};
static const struct mc_probe_state probe_unknown = {.status = MC_PROBE_UNKNOWN};

static struct mc_probe_state probe_down(k8s_probe_failure f, const char *detail)
{
    struct mc_probe_state s = {.status = MC_PROBE_DOWN, .reason = f, .seconds = 2.5};
    snprintf(s.detail, sizeof(s.detail), "%s", detail);
    return s;
}

static struct mc_observation observe(enum change c)
{
    /* Row observations point at these: one row is decided at a time. */
    static struct mc_probe_state api, gw;
    struct mc_observation o = healthy();
    const struct mc_apply_note failed = {MC_REASON_APPLY_FAILED, "ApplyFailed: Service x: boom"};
    switch (c) {
    case NOTHING:
        break;
    case LOCAL:
        o.local = true, o.gateway_address = "100.64.0.7";
        o.egress_services = o.remote_secret = false; /* none are made for the local cluster */
        break;
    case LOCAL_NO_ADDRESS:
        o.local = true, o.gateway_address = NULL;
        break;
    case REJECTED:
        o.accepted = false, o.why = &invalid_port;
        break;
    case REJECTED_NO_REASON:
        o.accepted = false, o.why = &no_reason;
        break;
    case EGRESS_APPLY_FAILED:
        o.egress_note = failed;
        break;
    case EGRESS_MISSING:
        o.egress_services = false;
        break;
    case PROXY_NOT_READY:
        o.proxy_not_ready = "no proxy pod";
        break;
    case SECRET_APPLY_FAILED:
        o.secret_note = failed;
        break;
    case TOKEN_PENDING:
        o.token_pending = true;
        break;
    case TOKEN_PROBLEM:
        o.token_pending = true, o.token_why = &token_missing;
        break;
    case SECRET_MISSING:
        o.remote_secret = false;
        break;
    case GATEWAY_APPLY_FAILED:
        o.gateway_note = failed;
        break;
    case GATEWAY_CONFLICT:
        o.gateway_note = (struct mc_apply_note){MC_REASON_APPLY_CONFLICT, "ApplyConflict: x"};
        break;
    case GATEWAY_CLASS:
        o.gateway_note =
            (struct mc_apply_note){MC_REASON_LB_CLASS_IMMUTABLE, "LoadBalancerClassImmutable: x"};
        break;
    case GATEWAY_MISSING:
        o.gateway_service = false, o.gateway_address = NULL;
        break;
    case MESHNET_FAILED:
        o.meshnet = (struct mc_meshnet_observation){MC_MESHNET_TROUBLE, {MC_REASON_NONE, "oops"}};
        break;
    case MESHNET_CONFLICT:
        o.meshnet = (struct mc_meshnet_observation){
            MC_MESHNET_TROUBLE, {MC_REASON_MESH_NETWORKS_CONFLICT, "MeshNetworksConflict: helm"}};
        break;
    case MESHNET_CM_MISSING:
        o.meshnet.state = MC_MESHNET_CONFIGMAP_MISSING;
        break;
    case MESHNET_PENDING:
        o.meshnet.state = MC_MESHNET_PENDING;
        break;
    case TRUST_MISMATCH:
        o.trust_status = "False", o.trust_reason = "RootMismatch", o.trust_message = "roots";
        break;
    case TRUST_UNKNOWN:
        o.trust_status = "Unknown", o.trust_reason = "OutOfMemory", o.trust_message = "oom";
        break;
    case LOCAL_WRONG_TAILNET:
        o.local = true, o.gateway_address = "ewgw.tail0000.ts.net";
        o.tailnet_mismatch = "the gateway's load balancer is ewgw.tail0000.ts.net, not in tailnet";
        break;
    case PROBES_UP:
        o.probe_api = o.probe_gateway = &probe_up;
        break;
    case PROBES_UNKNOWN:
        o.probe_api = o.probe_gateway = &probe_unknown;
        break;
    case GATEWAY_UNKNOWN:
        o.probe_api = &probe_up, o.probe_gateway = &probe_unknown;
        break;
    case API_DOWN_RESOLVE:
    case API_DOWN_CONNECT:
    case API_DOWN_TLS:
    case API_DOWN_TIMEOUT:
    case API_DOWN_HTTP:
    case API_DOWN_TRANSPORT:
        api = probe_down((k8s_probe_failure)(K8S_PROBE_RESOLVE + (c - API_DOWN_RESOLVE)),
                         down_detail[c - API_DOWN_RESOLVE]);
        o.probe_api = &api, o.probe_gateway = &probe_up;
        break;
    case GATEWAY_DOWN_RESOLVE:
    case GATEWAY_DOWN_CONNECT:
    case GATEWAY_DOWN_TLS:
    case GATEWAY_DOWN_TIMEOUT:
    case GATEWAY_DOWN_HTTP:
    case GATEWAY_DOWN_TRANSPORT:
        gw = probe_down((k8s_probe_failure)(K8S_PROBE_RESOLVE + (c - GATEWAY_DOWN_RESOLVE)),
                        down_detail[c - GATEWAY_DOWN_RESOLVE]);
        o.probe_api = &probe_up, o.probe_gateway = &gw;
        break;
    case ISTIOD_SYNCED:
    case ISTIOD_SYNCING:
    case ISTIOD_TIMEOUT:
    case ISTIOD_CLOSED:
    case ISTIOD_NOT_LOADED:
    case ISTIOD_NOT_LOADED_LATE:
    case ISTIOD_UNREACHABLE:
    case ISTIOD_OTHER:
        o.istiod_watched = true;
        o.istiod = (enum mc_istiod_sync)(MC_ISTIOD_SYNCED + (c - ISTIOD_SYNCED));
        o.istiod_error = "HTTP 401";
        break;
    }
    return o;
}

struct row {
    enum change change;
    const char *type, *status, *reason;
    const char *message_has; /* a part of the message, "" for an empty one */
    const char *ready_status, *ready_reason;
};

static const struct row rows[] = {
    {NOTHING, "Accepted", "True", "Accepted", "", "True", "Ready"},
    {REJECTED, "Accepted", "False", "InvalidPort", "spec.gateway.port: must be", "False",
     "NotAccepted"},
    {REJECTED_NO_REASON, "Accepted", "False", "Invalid", "spec: is not", "False", "NotAccepted"},
    {LOCAL, "EgressReady", "True", "NotApplicable", "remote clusters only", "True", "Ready"},
    {NOTHING, "EgressReady", "True", "ProxyReady", "", "True", "Ready"},
    {EGRESS_APPLY_FAILED, "EgressReady", "False", "ApplyFailed", "boom", "False", "NotReady"},
    {EGRESS_MISSING, "EgressReady", "False", "EgressServiceMissing", "being created", "False",
     "NotReady"},
    {PROXY_NOT_READY, "EgressReady", "False", "ProxyNotReady",
     "TailscaleProxyReady is not True: no proxy pod", "False", "NotReady"},
    {LOCAL, "RemoteSecretReady", "True", "NotApplicable", "remote clusters only", "True", "Ready"},
    {NOTHING, "RemoteSecretReady", "True", "SecretApplied", "", "True", "Ready"},
    {SECRET_APPLY_FAILED, "RemoteSecretReady", "False", "ApplyFailed", "boom", "False", "NotReady"},
    {TOKEN_PENDING, "RemoteSecretReady", "False", "TokenPending", "not read yet", "False",
     "NotReady"},
    {TOKEN_PROBLEM, "RemoteSecretReady", "False", "TokenSecretMissing",
     "spec.remoteSecret: Secret t/x", "False", "NotReady"},
    {SECRET_MISSING, "RemoteSecretReady", "False", "SecretMissing", "being created", "False",
     "NotReady"},
    {NOTHING, "GatewayReady", "True", "AliasReady", "", "True", "Ready"},
    {LOCAL, "GatewayReady", "True", "AddressAssigned", "", "True", "Ready"},
    {LOCAL_NO_ADDRESS, "GatewayReady", "False", "AddressPending", "publish an address", "False",
     "NotReady"},
    {GATEWAY_MISSING, "GatewayReady", "False", "GatewayServiceMissing", "being created", "False",
     "NotReady"},
    {GATEWAY_APPLY_FAILED, "GatewayReady", "False", "ApplyFailed", "boom", "False", "NotReady"},
    /* As it has always been: the gateway's conflict is an ApplyFailed whose message names it
     * (the README lists ApplyConflict as the reason; see readme_exceptions). */
    {GATEWAY_CONFLICT, "GatewayReady", "False", "ApplyFailed", "ApplyConflict: x", "False",
     "NotReady"},
    {GATEWAY_CLASS, "GatewayReady", "False", "LoadBalancerClassImmutable",
     "LoadBalancerClassImmutable: x", "False", "NotReady"},
    {NOTHING, "MeshNetworksReady", "True", "Applied", "", "True", "Ready"},
    {MESHNET_FAILED, "MeshNetworksReady", "False", "ApplyFailed", "oops", "False", "NotReady"},
    {MESHNET_CONFLICT, "MeshNetworksReady", "False", "MeshNetworksConflict", "helm", "False",
     "NotReady"},
    {MESHNET_CM_MISSING, "MeshNetworksReady", "False", "IstioConfigMapMissing",
     "does not exist yet", "False", "NotReady"},
    {MESHNET_PENDING, "MeshNetworksReady", "False", "Pending", "being written", "False",
     "NotReady"},
    /* TrustVerified does not gate Ready. */
    {TRUST_MISMATCH, "TrustVerified", "False", "RootMismatch", "roots", "True", "Ready"},
    {TRUST_UNKNOWN, "TrustVerified", "Unknown", "OutOfMemory", "oom", "True", "Ready"},
    {LOCAL_WRONG_TAILNET, "GatewayReady", "False", "TailnetMismatch", "not in tailnet", "False",
     "NotReady"},
    /* Probes (when the daemon probes): they gate Ready; a path not probed yet is Unknown. */
    {PROBES_UP, "PeerAPIReachable", "True", "Reachable", "latency=12ms", "True", "Ready"},
    {PROBES_UP, "PeerGatewayReachable", "True", "Reachable", "latency=12ms", "True", "Ready"},
    {PROBES_UNKNOWN, "PeerAPIReachable", "Unknown", "NotProbedYet", "no probe", "Unknown",
     "NotReady"},
    {GATEWAY_UNKNOWN, "PeerGatewayReachable", "Unknown", "NotProbedYet", "no probe", "Unknown",
     "NotReady"},
    {API_DOWN_RESOLVE, "PeerAPIReachable", "False", "NameNotResolved", "Could not resolve", "False",
     "NotReady"},
    {API_DOWN_CONNECT, "PeerAPIReachable", "False", "ConnectionFailed", "refused", "False",
     "NotReady"},
    {API_DOWN_TLS, "PeerAPIReachable", "False", "TLSError", "SSL certificate problem", "False",
     "NotReady"},
    {API_DOWN_TIMEOUT, "PeerAPIReachable", "False", "Timeout", "timeout (latency=2500ms)", "False",
     "NotReady"},
    {API_DOWN_HTTP, "PeerAPIReachable", "False", "HTTPError", "HTTP 401 (latency=2500ms)", "False",
     "NotReady"},
    {API_DOWN_TRANSPORT, "PeerAPIReachable", "False", "TransportError", "reset", "False",
     "NotReady"},
    {GATEWAY_DOWN_RESOLVE, "PeerGatewayReachable", "False", "NameNotResolved", "Could not resolve",
     "False", "NotReady"},
    {GATEWAY_DOWN_CONNECT, "PeerGatewayReachable", "False", "ConnectionFailed", "refused", "False",
     "NotReady"},
    {GATEWAY_DOWN_TLS, "PeerGatewayReachable", "False", "TLSError", "SSL", "False", "NotReady"},
    {GATEWAY_DOWN_TIMEOUT, "PeerGatewayReachable", "False", "Timeout", "timeout", "False",
     "NotReady"},
    {GATEWAY_DOWN_HTTP, "PeerGatewayReachable", "False", "HTTPError", "HTTP 401", "False",
     "NotReady"},
    {GATEWAY_DOWN_TRANSPORT, "PeerGatewayReachable", "False", "TransportError", "reset", "False",
     "NotReady"},
    /* istiod's own view: only what istiod reports is False; what we cannot know is Unknown. */
    {ISTIOD_SYNCED, "IstiodSynced", "True", "Synced", "", "True", "Ready"},
    {ISTIOD_SYNCING, "IstiodSynced", "False", "Syncing", "still syncing", "False", "NotReady"},
    {ISTIOD_TIMEOUT, "IstiodSynced", "False", "SyncTimeout", "gave up", "False", "NotReady"},
    {ISTIOD_CLOSED, "IstiodSynced", "False", "SyncClosed", "closed", "False", "NotReady"},
    {ISTIOD_NOT_LOADED, "IstiodSynced", "Unknown", "NotLoaded", "is new", "Unknown", "NotReady"},
    {ISTIOD_NOT_LOADED_LATE, "IstiodSynced", "False", "NotLoaded", "istio/multiCluster=true",
     "False", "NotReady"},
    {ISTIOD_UNREACHABLE, "IstiodSynced", "Unknown", "IstiodUnreachable",
     "cannot ask istiod: HTTP 401", "Unknown", "NotReady"},
    {ISTIOD_OTHER, "IstiodSynced", "Unknown", "SyncStatusUnknown", "does not know", "Unknown",
     "NotReady"},
};

static const struct mc_cond *find(const struct mc_conditions *cs, const char *type)
{
    for (size_t i = 0; i < cs->n; i++)
        if (strcmp(mc_cond_type_name(cs->c[i].type), type) == 0)
            return &cs->c[i];
    return NULL;
}

static void check_row(const struct row *r)
{
    struct mc_observation o = observe(r->change);
    struct mc_conditions cs;
    mc_conditions_decide(&o, &cs);
    const struct mc_cond *c = find(&cs, r->type);
    if (!c)
        fail_msg("row %s/%s: no %s condition", r->type, r->reason, r->type);
    struct mc_condition s = mc_cond_strings(c);
    if (strcmp(s.status, r->status) || strcmp(s.reason, r->reason) ||
        (r->message_has[0] ? !strstr(s.message, r->message_has) : s.message[0] != '\0'))
        fail_msg("row %s/%s: got %s %s \"%s\"", r->type, r->reason, s.status, s.reason, s.message);
    struct mc_condition ready = mc_cond_strings(find(&cs, "Ready"));
    if (strcmp(ready.status, r->ready_status) || strcmp(ready.reason, r->ready_reason))
        fail_msg("row %s/%s: Ready %s %s", r->type, r->reason, ready.status, ready.reason);
    /* Ready's message names the condition that holds it back. */
    if (strcmp(r->ready_status, "True") != 0 && strcmp(r->type, "TrustVerified") != 0)
        assert_non_null(strstr(ready.message, r->type));
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        check_row(&rows[i]);
}

/* The order is the CRD's: Accepted, the four object conditions, Ready, TrustVerified; a
 * rejected cluster has only Accepted, Ready and TrustVerified. */
static void test_order_and_address(void **state)
{
    (void)state;
    static const char *const want[] = {"Accepted",     "EgressReady",       "RemoteSecretReady",
                                       "GatewayReady", "MeshNetworksReady", "Ready",
                                       "TrustVerified"};
    struct mc_observation o = observe(NOTHING);
    struct mc_conditions cs;
    mc_conditions_decide(&o, &cs);
    assert_int_equal(cs.n, 7);
    for (size_t i = 0; i < cs.n; i++)
        assert_string_equal(mc_cond_type_name(cs.c[i].type), want[i]);
    assert_string_equal(cs.gateway_address, o.gateway_address);

    /* Probing on: the two path conditions come before Ready; never on the local cluster. */
    o = observe(PROBES_UP);
    mc_conditions_decide(&o, &cs);
    assert_int_equal(cs.n, 9);
    assert_string_equal(mc_cond_type_name(cs.c[5].type), "PeerAPIReachable");
    assert_string_equal(mc_cond_type_name(cs.c[6].type), "PeerGatewayReachable");
    assert_string_equal(mc_cond_type_name(cs.c[7].type), "Ready");
    o.local = true;
    mc_conditions_decide(&o, &cs);
    assert_null(find(&cs, "PeerAPIReachable"));

    o = observe(REJECTED);
    mc_conditions_decide(&o, &cs);
    assert_int_equal(cs.n, 3);
    assert_string_equal(mc_cond_type_name(cs.c[1].type), "Ready");
    assert_null(cs.gateway_address);
    /* An address is reported only while GatewayReady is True. */
    o = observe(GATEWAY_APPLY_FAILED);
    mc_conditions_decide(&o, &cs);
    assert_null(cs.gateway_address);
}

/* A trust check's Unknown does not reach Ready; statuses read from text default to Unknown. */
static void test_ready_unknown(void **state)
{
    (void)state;
    struct mc_conditions cs;
    struct mc_observation o = observe(TRUST_UNKNOWN);
    mc_conditions_decide(&o, &cs);
    assert_int_equal(find(&cs, "Ready")->status, MC_CS_TRUE);
    assert_int_equal(mc_cond_status_parse("Unknown"), MC_CS_UNKNOWN);
    assert_int_equal(mc_cond_status_parse("bogus"), MC_CS_UNKNOWN);
    assert_int_equal(mc_cond_status_parse("False"), MC_CS_FALSE);
}

/* Reasons named by other modules: the text passes through, whatever it is. */
static const struct {
    const char *type;
    const char *const *reasons;
} passthrough[] = {
    {"Accepted", (const char *const[]){"InvalidName",
                                       "InvalidTailnet",
                                       "InvalidHostname",
                                       "InvalidPort",
                                       "InvalidTag",
                                       "TooManyTags",
                                       "FieldTooLong",
                                       "InvalidNetwork",
                                       "InvalidMeshID",
                                       "InvalidLocality",
                                       "InvalidProxyClass",
                                       "InvalidServer",
                                       "InvalidFingerprint",
                                       "InvalidSecretRef",
                                       "SecretRefNotAllowed",
                                       "InvalidSpec",
                                       "NetworkConflict",
                                       "DuplicateHostname",
                                       "DuplicateName",
                                       "MeshIDConflict",
                                       "UnknownLocalCluster",
                                       "MissingTailnet",
                                       "InternalError",
                                       "InvalidCABundle",
                                       NULL}},
    /* spec.locality.failover (controller/validate.c). A row of its own: one more entry above
     * makes clang-format re-pack the whole list, a diff every parallel branch conflicts with. */
    {"Accepted", (const char *const[]){"InvalidFailover", NULL}},
    {"RemoteSecretReady",
     (const char *const[]){"TokenPending", "TokenSecretMissing", "TokenSecretForbidden",
                           "TokenKeyMissing", "TokenInvalid", "SecretRefNotAllowed", NULL}},
    {"TrustVerified",
     (const char *const[]){"RootMismatch", "DeclaredRootsDisagree", "NoCacerts", "IstiodRootStale",
                           "ChainInvalid", "IntermediateExpiringSoon", "IntermediateExpired",
                           "RootMatches", "ChainVerified", NULL}},
};

static bool passes_through(const char *type, const char *reason)
{
    struct mc_field_error why = {"", "spec.x", "why"};
    snprintf(why.reason, sizeof(why.reason), "%s", reason);
    struct mc_observation o = healthy();
    if (strcmp(type, "Accepted") == 0)
        o.accepted = false, o.why = &why;
    else if (strcmp(type, "RemoteSecretReady") == 0)
        o.token_pending = true, o.token_why = &why;
    else
        o.trust_status = "False", o.trust_reason = reason;
    struct mc_conditions cs;
    mc_conditions_decide(&o, &cs);
    struct mc_condition s = mc_cond_strings(find(&cs, type));
    return strcmp(s.status, "False") == 0 && strcmp(s.reason, reason) == 0;
}

static void test_passthrough(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(passthrough) / sizeof(passthrough[0]); i++)
        for (const char *const *r = passthrough[i].reasons; *r; r++)
            if (!passes_through(passthrough[i].type, *r))
                fail_msg("%s/%s does not pass through", passthrough[i].type, *r);
}

/* Documented in the README but never a condition's reason (reported otherwise). */
static const char *const readme_exceptions[][2] = {
    /* A gateway conflict is GatewayReady=False ApplyFailed, message "ApplyConflict: ...",
     * and an ApplyConflict Warning Event. */
    {"GatewayReady", "ApplyConflict"},
};

static bool has_row(const char *type, const char *reason)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (strcmp(rows[i].type, type) == 0 && strcmp(rows[i].reason, reason) == 0)
            return true;
    for (size_t i = 0; i < sizeof(passthrough) / sizeof(passthrough[0]); i++)
        for (const char *const *r = passthrough[i].reasons; *r; r++)
            if (strcmp(passthrough[i].type, type) == 0 && strcmp(*r, reason) == 0)
                return true;
    for (size_t i = 0; i < sizeof(readme_exceptions) / sizeof(readme_exceptions[0]); i++)
        if (strcmp(readme_exceptions[i][0], type) == 0 &&
            strcmp(readme_exceptions[i][1], reason) == 0)
            return true;
    return false;
}

/* Checks the backquoted reasons of one README table line ("| `Type` ... | reasons | ...");
 * returns how many it checked. */
static int check_readme_line(char *line)
{
    char *type = strchr(line, '`'), *end = type ? strchr(type + 1, '`') : NULL;
    char *cell = end ? strchr(end, '|') : NULL, *cell_end = cell ? strchr(cell + 1, '|') : NULL;
    if (!cell_end)
        return 0;
    *end = *cell_end = '\0';
    int n = 0;
    for (char *q = strchr(cell, '`'); q; q = strchr(q + 1, '`')) {
        char *close = strchr(q + 1, '`');
        if (!close)
            break;
        *close = '\0';
        if (!has_row(type + 1, q + 1))
            fail_msg("README documents %s/%s and the table has no row for it", type + 1, q + 1);
        n++;
        q = close;
    }
    return n;
}

static void test_readme_reasons_have_rows(void **state)
{
    (void)state;
    const char *src = getenv("MC_SOURCE_DIR");
    if (!src)
        skip();
    char path[4096];
    snprintf(path, sizeof(path), "%s/README.md", src);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[4096];
    bool in = false;
    int checked = 0;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "## ", 3) == 0)
            in = strncmp(line, "## Conditions and what to do", 28) == 0;
        else if (in && strncmp(line, "| `", 3) == 0)
            checked += check_readme_line(line);
    }
    fclose(f);
    print_message("README reasons checked: %d\n", checked);
    assert_true(checked >= 30);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_order_and_address),
        cmocka_unit_test(test_ready_unknown),
        cmocka_unit_test(test_passthrough),
        cmocka_unit_test(test_readme_reasons_have_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
