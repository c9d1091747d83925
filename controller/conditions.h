/*
 * Observations -> conditions: the pure decision of a MeshCluster's conditions. The reconciler
 * reads its caches and the pass's apply outcomes into a struct mc_observation (I/O), calls
 * mc_conditions_decide (no I/O, no allocation, no clock) and writes what comes out
 * (controller/status.h). Keeping the decision here lets a table of observations test every
 * documented reason without a server (tests/reconciler/conditions_test.c).
 *
 * Types, statuses and the reasons the controller decides are enums; their strings exist only
 * at the edge (mc_cond_type_name, mc_reason_name), where the status JSON is built. Reasons
 * named by another module (validation, the token reader, the trust check) arrive as that
 * module's text and are passed through as MC_REASON_OBSERVED: the set is theirs to extend.
 */
#ifndef MC_CONDITIONS_H
#define MC_CONDITIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "controller/dns.h"
#include "controller/meshcluster.h"
#include "controller/istiod_sync.h"
#include "controller/probe_state.h"
#include "controller/status.h"

/* In the order the controller writes them; TrustVerified after Ready (it does not gate it), and
 * DNSReady last (it gates Ready; see mc_conditions_decide for why it is written last). */
enum mc_cond_type {
    MC_CT_ACCEPTED,
    MC_CT_EGRESS_READY,
    MC_CT_REMOTE_SECRET,
    MC_CT_GATEWAY_READY,
    MC_CT_MESH_NETWORKS,
    MC_CT_PEER_API,      /* remote only, when probing is on: its API server answers */
    MC_CT_PEER_GATEWAY,  /* remote only, when probing is on: its gateway accepts and is ready */
    MC_CT_ISTIOD_SYNCED, /* remote only, when istiod is watched: istiod loaded and synced it */
    MC_CT_DNS_READY,     /* local only, with spec.tailscale.dns: managed */
    MC_CT_READY,
    MC_CT_TRUST_VERIFIED,
    MC_CT_COUNT
};

enum mc_cond_status { MC_CS_TRUE, MC_CS_FALSE, MC_CS_UNKNOWN };

enum mc_reason {
    MC_REASON_NONE,     /* no trouble (an apply note's "nothing to report") */
    MC_REASON_OBSERVED, /* another module's reason: the condition's reason_text */
    MC_REASON_ACCEPTED,
    MC_REASON_INVALID, /* not accepted, validation named no reason */
    MC_REASON_NOT_APPLICABLE,
    MC_REASON_APPLY_FAILED,
    MC_REASON_APPLY_CONFLICT,
    MC_REASON_MESH_NETWORKS_CONFLICT,
    MC_REASON_LB_CLASS_IMMUTABLE,
    MC_REASON_EGRESS_SERVICE_MISSING,
    MC_REASON_PROXY_NOT_READY,
    MC_REASON_PROXY_READY,
    MC_REASON_TOKEN_PENDING,
    MC_REASON_SECRET_MISSING,
    MC_REASON_SECRET_APPLIED,
    MC_REASON_GATEWAY_SERVICE_MISSING,
    MC_REASON_ADDRESS_PENDING,
    MC_REASON_ADDRESS_ASSIGNED,
    MC_REASON_ALIAS_READY,
    MC_REASON_ISTIO_CONFIGMAP_MISSING,
    MC_REASON_PENDING,
    MC_REASON_APPLIED,
    MC_REASON_READY,
    MC_REASON_NOT_READY,
    MC_REASON_NOT_ACCEPTED,
    MC_REASON_TAILNET_MISMATCH,
    MC_REASON_REACHABLE,
    MC_REASON_NOT_PROBED_YET,
    MC_REASON_NAME_NOT_RESOLVED,
    MC_REASON_CONNECTION_FAILED,
    MC_REASON_TLS_ERROR,
    MC_REASON_PROBE_TIMEOUT,
    MC_REASON_HTTP_ERROR,
    MC_REASON_TRANSPORT_ERROR,
    MC_REASON_SYNCED,
    MC_REASON_SYNCING,
    MC_REASON_SYNC_TIMEOUT,
    MC_REASON_SYNC_CLOSED,
    MC_REASON_NOT_LOADED,
    MC_REASON_ISTIOD_UNREACHABLE,
    MC_REASON_SYNC_UNKNOWN,
    MC_REASON_DNS_CONFIGURED,
    MC_REASON_DNS_NOT_CHECKED,
    MC_REASON_NAMESERVER_PENDING,
    MC_REASON_COREFILE_CONFLICT,
    MC_REASON_COREFILE_MALFORMED,
    MC_REASON_COREDNS_MISSING,
    MC_REASON_DNSCONFIG_FAILED,
    MC_REASON_DNS_WRITE_FAILED,
    MC_REASON_COUNT
};

/* The CRD's strings ("EgressReady", "True", "ProxyNotReady"); static. MC_REASON_NONE and
 * MC_REASON_OBSERVED have none (""): the caller uses the condition's reason_text. */
const char *mc_cond_type_name(enum mc_cond_type t);
const char *mc_cond_status_name(enum mc_cond_status s);
const char *mc_reason_name(enum mc_reason r);
/* The status of "True"/"False"/"Unknown" (anything else: Unknown). */
enum mc_cond_status mc_cond_status_parse(const char *s);

/* One decided condition. Strings borrowed from the observation or the mc_conditions. */
struct mc_cond {
    enum mc_cond_type type;
    enum mc_cond_status status;
    enum mc_reason reason;
    const char *reason_text; /* MC_REASON_OBSERVED only */
    const char *message;     /* never NULL */
};

/* The first trouble of a pass with the objects behind one condition: an apply that failed
 * or conflicted. reason MC_REASON_NONE: none; message borrowed. */
struct mc_apply_note {
    enum mc_reason reason;
    const char *message;
};

/* meshNetworks as phase 1 left it; shared by every MeshCluster of a pass. */
enum mc_meshnet_state {
    MC_MESHNET_APPLIED,           /* our key is in the cached istio ConfigMap */
    MC_MESHNET_PENDING,           /* written, its watch event not back yet */
    MC_MESHNET_CONFIGMAP_MISSING, /* istiod has not created the ConfigMap */
    MC_MESHNET_TROUBLE,           /* an apply failed or conflicted: the note says how */
};

struct mc_meshnet_observation {
    enum mc_meshnet_state state;
    struct mc_apply_note note; /* MC_MESHNET_TROUBLE; reason NONE reads as ApplyFailed */
};

/* Everything one MeshCluster's conditions depend on; borrowed for the call. */
struct mc_observation {
    bool local;
    bool accepted;
    const struct mc_field_error *why; /* !accepted: validation's verdict */
    /* Apply troubles of this pass, by the condition they are reported under. */
    struct mc_apply_note egress_note, secret_note, gateway_note;
    /* Remote only: both egress Services cached, and why the first not-ready proxy is not
     * (NULL: both report TailscaleProxyReady=True). */
    bool egress_services;
    const char *proxy_not_ready;
    /* Remote with auth "secret" whose token is not read yet, and the token reader's reason
     * (NULL: none known yet). */
    bool token_pending;
    const struct mc_field_error *token_why;
    bool remote_secret; /* the remote secret is cached */
    /* The gateway Service is cached, and its address: the local load balancer's published
     * one (NULL: not yet), or a remote's in-cluster alias. */
    bool gateway_service;
    const char *gateway_address;
    struct mc_meshnet_observation meshnet;
    /* TrustVerified as the trust check decided it (controller/trust.h). */
    const char *trust_status, *trust_reason, *trust_message;
    /* Local: why the load balancer's address is not on the MeshCluster's tailnet (NULL: it
     * is, or there is none yet); see mc_tailnet_address_matches. */
    const char *tailnet_mismatch;
    /* Remote, when the daemon probes (NULL: probing is off): the prober's view of the API
     * server and gateway paths (controller/prober.h). */
    const struct mc_probe_state *probe_api, *probe_gateway;
    /* Remote, when istiod is watched: istiod's verdict (controller/istiod_sync.h), and why
     * istiod could not be asked (MC_ISTIOD_UNREACHABLE). */
    bool istiod_watched;
    enum mc_istiod_sync istiod;
    const char *istiod_error;
    /* Local with spec.tailscale.dns: managed: what the last DNS check found
     * (controller/dns.h) and its detail (NULL: none). */
    bool dns_managed;
    enum mc_dns_state dns;
    const char *dns_detail;
};

/* Room for "<field>: <message>" of a struct mc_field_error, and for the one-line messages
 * (a proxy's reason, Ready's summary), which are cut at a note's length as they always were. */
#define MC_CONDITION_MESSAGE 1200
#define MC_CONDITION_NOTE    320

/* The decided conditions in write order, and the messages composed for them. */
struct mc_conditions {
    struct mc_cond c[MC_CT_COUNT];
    size_t n;
    /* .status.gatewayAddress: set only while GatewayReady is True (borrowed), else NULL. */
    const char *gateway_address;
    char accepted_msg[MC_CONDITION_MESSAGE];
    char secret_msg[MC_CONDITION_MESSAGE];
    char egress_msg[MC_CONDITION_NOTE];
    char ready_msg[MC_CONDITION_NOTE];
    char probe_msg[2][MC_CONDITION_NOTE]; /* PeerAPIReachable, PeerGatewayReachable */
    char istiod_msg[MC_CONDITION_NOTE];
    char dns_msg[MC_CONDITION_NOTE];
};

/*
 * The conditions of one MeshCluster: Accepted; when accepted EgressReady, RemoteSecretReady,
 * GatewayReady and MeshNetworksReady; then Ready (True when every one before is True) and
 * TrustVerified. Pure: the same observation always gives the same set.
 */
void mc_conditions_decide(const struct mc_observation *o, struct mc_conditions *out);

/*
 * Whether the decided conditions are settled: none reports a state that resolves by itself in
 * a moment without anyone acting (an object just applied and not yet cached, an address or a
 * proxy not yet published, meshNetworks being written, a first probe or istiod sync not yet
 * answered). The reconciler holds back a status that is not settled for a short while
 * (reconcile_status.c), so a MeshCluster coming up is written once, Ready, instead of once
 * Pending and once Ready, and a repaired object never shows as a passing False. Pure.
 */
bool mc_conditions_settled(const struct mc_conditions *cs);

/* MeshNetworksReady from phase 1's view of meshNetworks. */
struct mc_cond mc_conditions_meshnet(const struct mc_meshnet_observation *m);

/* c as the strings status.h's builder writes (borrowed from c and static tables). */
struct mc_condition mc_cond_strings(const struct mc_cond *c);

#endif
