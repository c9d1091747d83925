/* Observations -> conditions, with no I/O; see conditions.h. */
#include "controller/conditions.h"

#include <stdio.h>
#include <string.h>

const char *mc_cond_type_name(enum mc_cond_type t)
{
    static const char *const names[MC_CT_COUNT] = {
        [MC_CT_ACCEPTED] = MC_COND_ACCEPTED,
        [MC_CT_EGRESS_READY] = MC_COND_EGRESS_READY,
        [MC_CT_REMOTE_SECRET] = MC_COND_REMOTE_SECRET,
        [MC_CT_GATEWAY_READY] = MC_COND_GATEWAY_READY,
        [MC_CT_MESH_NETWORKS] = MC_COND_MESH_NETWORKS,
        [MC_CT_PEER_API] = MC_COND_PEER_API,
        [MC_CT_PEER_GATEWAY] = MC_COND_PEER_GATEWAY,
        [MC_CT_ISTIOD_SYNCED] = MC_COND_ISTIOD_SYNCED,
        [MC_CT_DNS_READY] = MC_COND_DNS_READY,
        [MC_CT_READY] = MC_COND_READY,
        [MC_CT_TRUST_VERIFIED] = "TrustVerified",
    };
    return (unsigned)t < MC_CT_COUNT ? names[t] : "";
}

const char *mc_cond_status_name(enum mc_cond_status s)
{
    return s == MC_CS_TRUE ? "True" : s == MC_CS_FALSE ? "False" : "Unknown";
}

enum mc_cond_status mc_cond_status_parse(const char *s)
{
    if (s && strcmp(s, "True") == 0)
        return MC_CS_TRUE;
    if (s && strcmp(s, "False") == 0)
        return MC_CS_FALSE;
    return MC_CS_UNKNOWN;
}

const char *mc_reason_name(enum mc_reason r)
{
    /* The CRD's pattern is CamelCase; these are the README's "Conditions" table. */
    static const char *const names[MC_REASON_COUNT] = {
        [MC_REASON_NONE] = "",
        [MC_REASON_OBSERVED] = "",
        [MC_REASON_ACCEPTED] = "Accepted",
        [MC_REASON_INVALID] = "Invalid",
        [MC_REASON_NOT_APPLICABLE] = "NotApplicable",
        [MC_REASON_APPLY_FAILED] = "ApplyFailed",
        [MC_REASON_APPLY_CONFLICT] = "ApplyConflict",
        [MC_REASON_MESH_NETWORKS_CONFLICT] = "MeshNetworksConflict",
        [MC_REASON_LB_CLASS_IMMUTABLE] = "LoadBalancerClassImmutable",
        [MC_REASON_EGRESS_SERVICE_MISSING] = "EgressServiceMissing",
        [MC_REASON_PROXY_NOT_READY] = "ProxyNotReady",
        [MC_REASON_PROXY_READY] = "ProxyReady",
        [MC_REASON_TOKEN_PENDING] = "TokenPending",
        [MC_REASON_SECRET_MISSING] = "SecretMissing",
        [MC_REASON_SECRET_APPLIED] = "SecretApplied",
        [MC_REASON_GATEWAY_SERVICE_MISSING] = "GatewayServiceMissing",
        [MC_REASON_ADDRESS_PENDING] = "AddressPending",
        [MC_REASON_ADDRESS_ASSIGNED] = "AddressAssigned",
        [MC_REASON_ALIAS_READY] = "AliasReady",
        [MC_REASON_ISTIO_CONFIGMAP_MISSING] = "IstioConfigMapMissing",
        [MC_REASON_PENDING] = "Pending",
        [MC_REASON_APPLIED] = "Applied",
        [MC_REASON_READY] = "Ready",
        [MC_REASON_NOT_READY] = "NotReady",
        [MC_REASON_NOT_ACCEPTED] = "NotAccepted",
        [MC_REASON_TAILNET_MISMATCH] = "TailnetMismatch",
        [MC_REASON_REACHABLE] = "Reachable",
        [MC_REASON_NOT_PROBED_YET] = "NotProbedYet",
        [MC_REASON_NAME_NOT_RESOLVED] = "NameNotResolved",
        [MC_REASON_CONNECTION_FAILED] = "ConnectionFailed",
        [MC_REASON_TLS_ERROR] = "TLSError",
        [MC_REASON_PROBE_TIMEOUT] = "Timeout",
        [MC_REASON_HTTP_ERROR] = "HTTPError",
        [MC_REASON_TRANSPORT_ERROR] = "TransportError",
        [MC_REASON_SYNCED] = "Synced",
        [MC_REASON_SYNCING] = "Syncing",
        [MC_REASON_SYNC_TIMEOUT] = "SyncTimeout",
        [MC_REASON_SYNC_CLOSED] = "SyncClosed",
        [MC_REASON_NOT_LOADED] = "NotLoaded",
        [MC_REASON_ISTIOD_UNREACHABLE] = "IstiodUnreachable",
        [MC_REASON_SYNC_UNKNOWN] = "SyncStatusUnknown",
        [MC_REASON_DNS_CONFIGURED] = "Configured",
        [MC_REASON_DNS_NOT_CHECKED] = "NotCheckedYet",
        [MC_REASON_NAMESERVER_PENDING] = "NameserverPending",
        [MC_REASON_COREFILE_CONFLICT] = "CorefileConflict",
        [MC_REASON_COREFILE_MALFORMED] = "CorefileMalformed",
        [MC_REASON_COREDNS_MISSING] = "CoreDNSConfigMissing",
        [MC_REASON_DNSCONFIG_FAILED] = "DNSConfigFailed",
        [MC_REASON_DNS_WRITE_FAILED] = "WriteFailed",
    };
    return (unsigned)r < MC_REASON_COUNT ? names[r] : "";
}

struct mc_condition mc_cond_strings(const struct mc_cond *c)
{
    return (struct mc_condition){
        .type = mc_cond_type_name(c->type),
        .status = mc_cond_status_name(c->status),
        .reason = c->reason == MC_REASON_OBSERVED ? c->reason_text : mc_reason_name(c->reason),
        .message = c->message,
    };
}

static struct mc_cond cond(enum mc_cond_type t, enum mc_cond_status s, enum mc_reason r,
                           const char *message)
{
    return (struct mc_cond){.type = t, .status = s, .reason = r, .message = message};
}

/* A reason named by another module; its text is the edge's, passed through. */
static struct mc_cond observed(enum mc_cond_type t, enum mc_cond_status s, const char *reason,
                               const char *message)
{
    struct mc_cond c = cond(t, s, MC_REASON_OBSERVED, message ? message : "");
    c.reason_text = reason ? reason : "";
    return c;
}

static struct mc_cond accepted_cond(const struct mc_observation *o, struct mc_conditions *out)
{
    if (o->accepted)
        return cond(MC_CT_ACCEPTED, MC_CS_TRUE, MC_REASON_ACCEPTED, "");
    snprintf(out->accepted_msg, sizeof(out->accepted_msg), "%s: %s", o->why->field,
             o->why->message);
    if (!o->why->reason[0])
        return cond(MC_CT_ACCEPTED, MC_CS_FALSE, MC_REASON_INVALID, out->accepted_msg);
    return observed(MC_CT_ACCEPTED, MC_CS_FALSE, o->why->reason, out->accepted_msg);
}

/* An apply trouble is reported as ApplyFailed whatever its kind (the message starts with the
 * precise reason); only the gateway names LoadBalancerClassImmutable as its own reason. */
static struct mc_cond egress_cond(const struct mc_observation *o, struct mc_conditions *out)
{
    const enum mc_cond_type t = MC_CT_EGRESS_READY;
    if (o->local)
        return cond(t, MC_CS_TRUE, MC_REASON_NOT_APPLICABLE,
                    "egress proxies are made for remote clusters only");
    if (o->egress_note.reason != MC_REASON_NONE)
        return cond(t, MC_CS_FALSE, MC_REASON_APPLY_FAILED, o->egress_note.message);
    if (!o->egress_services)
        return cond(t, MC_CS_FALSE, MC_REASON_EGRESS_SERVICE_MISSING,
                    "the egress Services are being created");
    if (o->proxy_not_ready) {
        snprintf(out->egress_msg, sizeof(out->egress_msg), "TailscaleProxyReady is not True: %s",
                 o->proxy_not_ready);
        return cond(t, MC_CS_FALSE, MC_REASON_PROXY_NOT_READY, out->egress_msg);
    }
    return cond(t, MC_CS_TRUE, MC_REASON_PROXY_READY, "");
}

static struct mc_cond secret_cond(const struct mc_observation *o, struct mc_conditions *out)
{
    const enum mc_cond_type t = MC_CT_REMOTE_SECRET;
    if (o->local)
        return cond(t, MC_CS_TRUE, MC_REASON_NOT_APPLICABLE,
                    "remote secrets are made for remote clusters only");
    if (o->secret_note.reason != MC_REASON_NONE)
        return cond(t, MC_CS_FALSE, MC_REASON_APPLY_FAILED, o->secret_note.message);
    if (o->token_pending && !o->token_why)
        return cond(t, MC_CS_FALSE, MC_REASON_TOKEN_PENDING,
                    "the Secret holding this cluster's token is not read yet");
    if (o->token_pending) {
        snprintf(out->secret_msg, sizeof(out->secret_msg), "%s: %s", o->token_why->field,
                 o->token_why->message);
        return observed(t, MC_CS_FALSE, o->token_why->reason, out->secret_msg);
    }
    if (!o->remote_secret)
        return cond(t, MC_CS_FALSE, MC_REASON_SECRET_MISSING, "the remote secret is being created");
    return cond(t, MC_CS_TRUE, MC_REASON_SECRET_APPLIED, "");
}

static struct mc_cond gateway_cond(const struct mc_observation *o, struct mc_conditions *out)
{
    const enum mc_cond_type t = MC_CT_GATEWAY_READY;
    const struct mc_apply_note *n = &o->gateway_note;
    if (n->reason != MC_REASON_NONE)
        return cond(t, MC_CS_FALSE,
                    n->reason == MC_REASON_LB_CLASS_IMMUTABLE ? n->reason : MC_REASON_APPLY_FAILED,
                    n->message);
    if (!o->gateway_service)
        return cond(t, MC_CS_FALSE, MC_REASON_GATEWAY_SERVICE_MISSING,
                    "the gateway Service is being created");
    if (!o->gateway_address)
        return cond(t, MC_CS_FALSE, MC_REASON_ADDRESS_PENDING,
                    "waiting for the Tailscale load balancer to publish an address");
    if (o->local && o->tailnet_mismatch)
        return cond(t, MC_CS_FALSE, MC_REASON_TAILNET_MISMATCH, o->tailnet_mismatch);
    out->gateway_address = o->gateway_address;
    return cond(t, MC_CS_TRUE, o->local ? MC_REASON_ADDRESS_ASSIGNED : MC_REASON_ALIAS_READY, "");
}

struct mc_cond mc_conditions_meshnet(const struct mc_meshnet_observation *m)
{
    const enum mc_cond_type t = MC_CT_MESH_NETWORKS;
    switch (m->state) {
    case MC_MESHNET_TROUBLE:
        return cond(t, MC_CS_FALSE,
                    m->note.reason != MC_REASON_NONE ? m->note.reason : MC_REASON_APPLY_FAILED,
                    m->note.message ? m->note.message : "");
    case MC_MESHNET_CONFIGMAP_MISSING:
        return cond(t, MC_CS_FALSE, MC_REASON_ISTIO_CONFIGMAP_MISSING,
                    "the istio ConfigMap does not exist yet (the istiod installation "
                    "creates it); meshNetworks is written as soon as it appears");
    case MC_MESHNET_PENDING:
        return cond(t, MC_CS_FALSE, MC_REASON_PENDING, "meshNetworks is being written");
    case MC_MESHNET_APPLIED:
        break;
    }
    return cond(t, MC_CS_TRUE, MC_REASON_APPLIED, "");
}

static enum mc_reason probe_reason(k8s_probe_failure f)
{
    switch (f) {
    case K8S_PROBE_RESOLVE:
        return MC_REASON_NAME_NOT_RESOLVED;
    case K8S_PROBE_CONNECT:
        return MC_REASON_CONNECTION_FAILED;
    case K8S_PROBE_TLS:
        return MC_REASON_TLS_ERROR;
    case K8S_PROBE_TIMEOUT:
        return MC_REASON_PROBE_TIMEOUT;
    case K8S_PROBE_HTTP:
        return MC_REASON_HTTP_ERROR;
    default:
        return MC_REASON_TRANSPORT_ERROR;
    }
}

/* A path's condition from the prober's state. The message carries the latency as
 * "latency=<N>ms" (meshctl status shows it); it is the one of the result that set the state,
 * so steady probing rewrites nothing. */
static struct mc_cond probe_cond(enum mc_cond_type t, const struct mc_probe_state *s, char *msg,
                                 size_t len)
{
    long ms = (long)(s->seconds * 1000 + 0.5);
    switch (s->status) {
    case MC_PROBE_UNKNOWN:
        return cond(t, MC_CS_UNKNOWN, MC_REASON_NOT_PROBED_YET, "no probe has answered yet");
    case MC_PROBE_UP:
        snprintf(msg, len, "latency=%ldms", ms);
        return cond(t, MC_CS_TRUE, MC_REASON_REACHABLE, msg);
    case MC_PROBE_DOWN:
        break;
    }
    /* Nothing that changes while the state holds (the failure count) goes into the message:
     * our own status write must rebuild the same status, or writes would chase each other. */
    snprintf(msg, len, "%s (latency=%ldms)",
             s->detail[0] ? s->detail : k8s_probe_failure_name(s->reason), ms);
    return cond(t, MC_CS_FALSE, probe_reason(s->reason), msg);
}

/*
 * What istiod says of this remote. Only what istiod itself reports is False (it gave up, it
 * closed the cluster, or it has not loaded our secret long after we wrote it); what we cannot
 * know (istiod unreachable, a status word this version does not know, a secret written moments
 * ago) is Unknown: a monitoring gap must not read as a broken mesh.
 */
static struct mc_cond istiod_cond(const struct mc_observation *o, struct mc_conditions *out)
{
    const enum mc_cond_type t = MC_CT_ISTIOD_SYNCED;
    switch (o->istiod) {
    case MC_ISTIOD_SYNCED:
        return cond(t, MC_CS_TRUE, MC_REASON_SYNCED, "");
    case MC_ISTIOD_SYNCING:
        return cond(t, MC_CS_FALSE, MC_REASON_SYNCING,
                    "istiod loaded the remote secret and is still syncing this cluster");
    case MC_ISTIOD_TIMEOUT:
        return cond(t, MC_CS_FALSE, MC_REASON_SYNC_TIMEOUT,
                    "istiod gave up its initial sync of this cluster: check the remote secret's "
                    "server, token and CA (istiod's log names the error)");
    case MC_ISTIOD_CLOSED:
        return cond(t, MC_CS_FALSE, MC_REASON_SYNC_CLOSED, "istiod closed this cluster");
    case MC_ISTIOD_NOT_LOADED_LATE:
        return cond(t, MC_CS_FALSE, MC_REASON_NOT_LOADED,
                    "istiod has not loaded the remote secret: is it labelled "
                    "istio/multiCluster=true in istiod's namespace, and istiod running?");
    case MC_ISTIOD_NOT_LOADED:
        return cond(t, MC_CS_UNKNOWN, MC_REASON_NOT_LOADED,
                    "the remote secret is new; istiod has not listed it yet");
    case MC_ISTIOD_UNREACHABLE:
        snprintf(out->istiod_msg, sizeof(out->istiod_msg), "cannot ask istiod: %s",
                 o->istiod_error ? o->istiod_error : "no answer");
        return cond(t, MC_CS_UNKNOWN, MC_REASON_ISTIOD_UNREACHABLE, out->istiod_msg);
    case MC_ISTIOD_OTHER:
        break;
    }
    return cond(t, MC_CS_UNKNOWN, MC_REASON_SYNC_UNKNOWN,
                "istiod reports a syncStatus this version does not know");
}

/* Ready sums up the conditions before it: the first that is not True names why. */
/*
 * Whether cluster DNS forwards the tailnet's domain (spec.tailscale.dns: managed). A state
 * that waits on someone else (the operator's nameserver, the first check) is Unknown; one
 * that needs a person (a conflicting block, a Corefile we will not edit) is False.
 */
static struct mc_cond dns_cond(const struct mc_observation *o, struct mc_conditions *out)
{
    static const struct {
        enum mc_cond_status status;
        enum mc_reason reason;
        const char *what;
    } table[] = {
        [MC_DNS_UNCHECKED] = {MC_CS_UNKNOWN, MC_REASON_DNS_NOT_CHECKED,
                              "cluster DNS has not been checked yet"},
        [MC_DNS_CONFIGURED] = {MC_CS_TRUE, MC_REASON_DNS_CONFIGURED,
                               "cluster DNS forwards the tailnet's domain"},
        [MC_DNS_NAMESERVER_PENDING] = {MC_CS_UNKNOWN, MC_REASON_NAMESERVER_PENDING,
                                       "the DNSConfig has no nameserver IP yet: is the "
                                       "Tailscale operator running?"},
        [MC_DNS_COREFILE_CONFLICT] = {MC_CS_FALSE, MC_REASON_COREFILE_CONFLICT,
                                      "the Corefile already serves the tailnet's domain"},
        [MC_DNS_COREFILE_MALFORMED] = {MC_CS_FALSE, MC_REASON_COREFILE_MALFORMED,
                                       "the Corefile cannot be edited safely; left alone"},
        [MC_DNS_COREDNS_MISSING] = {MC_CS_FALSE, MC_REASON_COREDNS_MISSING,
                                    "neither kube-system/coredns nor coredns-custom exists"},
        [MC_DNS_DNSCONFIG_FAILED] = {MC_CS_FALSE, MC_REASON_DNSCONFIG_FAILED,
                                     "the DNSConfig cannot be applied: are the Tailscale "
                                     "operator's CRDs installed?"},
        [MC_DNS_WRITE_FAILED] = {MC_CS_UNKNOWN, MC_REASON_DNS_WRITE_FAILED,
                                 "writing the CoreDNS configuration failed; retrying"},
    };
    unsigned s = (unsigned)o->dns < sizeof(table) / sizeof(table[0]) ? (unsigned)o->dns : 0;
    if (o->dns_detail && o->dns_detail[0])
        snprintf(out->dns_msg, sizeof(out->dns_msg), "%s: %s", table[s].what, o->dns_detail);
    else
        snprintf(out->dns_msg, sizeof(out->dns_msg), "%s", table[s].what);
    return cond(MC_CT_DNS_READY, table[s].status, table[s].reason, out->dns_msg);
}

static struct mc_cond ready_cond(const struct mc_observation *o, struct mc_conditions *out)
{
    for (size_t i = 0; i < out->n; i++) {
        const struct mc_cond *c = &out->c[i];
        if (c->status == MC_CS_TRUE)
            continue;
        struct mc_condition s = mc_cond_strings(c);
        snprintf(out->ready_msg, sizeof(out->ready_msg), "%s is %s: %s", s.type, s.status,
                 s.reason);
        return cond(MC_CT_READY, c->status == MC_CS_UNKNOWN ? MC_CS_UNKNOWN : MC_CS_FALSE,
                    o->accepted ? MC_REASON_NOT_READY : MC_REASON_NOT_ACCEPTED, out->ready_msg);
    }
    return cond(MC_CT_READY, MC_CS_TRUE, MC_REASON_READY, "");
}

void mc_conditions_decide(const struct mc_observation *o, struct mc_conditions *out)
{
    out->n = 0;
    out->gateway_address = NULL;
    out->c[out->n++] = accepted_cond(o, out);
    if (o->accepted) {
        out->c[out->n++] = egress_cond(o, out);
        out->c[out->n++] = secret_cond(o, out);
        out->c[out->n++] = gateway_cond(o, out);
        out->c[out->n++] = mc_conditions_meshnet(&o->meshnet);
        if (!o->local && o->probe_api)
            out->c[out->n++] = probe_cond(MC_CT_PEER_API, o->probe_api, out->probe_msg[0],
                                          sizeof(out->probe_msg[0]));
        if (!o->local && o->probe_gateway)
            out->c[out->n++] = probe_cond(MC_CT_PEER_GATEWAY, o->probe_gateway, out->probe_msg[1],
                                          sizeof(out->probe_msg[1]));
        if (!o->local && o->istiod_watched)
            out->c[out->n++] = istiod_cond(o, out);
        /* Gating Ready: without the forwarding istiod cannot resolve any remote's API
         * server, the failure the guide's Step 3 is about. Decided here so that Ready sees
         * it; written last (below). */
        if (o->local && o->dns_managed)
            out->c[out->n++] = dns_cond(o, out);
    }
    out->c[out->n] = ready_cond(o, out);
    out->n++;
    /* DNSReady goes after TrustVerified: it comes and goes with spec.tailscale.dns, and
     * server-side apply appends a condition type new to the list at its end; listed there,
     * what we build is the order the server keeps (status.c compares by type in any case). */
    struct mc_cond dns = {.type = MC_CT_COUNT};
    if (out->n >= 2 && out->c[out->n - 2].type == MC_CT_DNS_READY) {
        dns = out->c[out->n - 2];
        out->c[out->n - 2] = out->c[out->n - 1];
        out->n--;
    }
    /* TrustVerified comes after Ready on purpose: it does not gate Ready. A mesh without
     * cacerts (or with istiod on a stale root) still wires up; Ready keeps meaning "the
     * objects of this cluster are in place", and a False TrustVerified warns that
     * cross-cluster mTLS will fail until the roots agree. */
    out->c[out->n++] = observed(MC_CT_TRUST_VERIFIED, mc_cond_status_parse(o->trust_status),
                                o->trust_reason, o->trust_message);
    if (dns.type == MC_CT_DNS_READY)
        out->c[out->n++] = dns;
}

/* The reasons of states that pass by themselves: see mc_conditions_settled. A proxy the
 * Tailscale operator has not reported ready is one; a token Secret that is missing is not
 * (someone has to create it). */
static bool passing_reason(enum mc_reason r)
{
    switch (r) {
    case MC_REASON_EGRESS_SERVICE_MISSING:
    case MC_REASON_PROXY_NOT_READY:
    case MC_REASON_SECRET_MISSING:
    case MC_REASON_GATEWAY_SERVICE_MISSING:
    case MC_REASON_ADDRESS_PENDING:
    case MC_REASON_PENDING:
    case MC_REASON_NOT_PROBED_YET:
    case MC_REASON_SYNCING:
        return true;
    default:
        return false;
    }
}

bool mc_conditions_settled(const struct mc_conditions *cs)
{
    for (size_t i = 0; i < cs->n; i++)
        if (cs->c[i].status != MC_CS_TRUE && passing_reason(cs->c[i].reason))
            return false;
    return true;
}
