/*
 * Cluster DNS for the tailnet (the guide's Step 3), the pure part: which CoreDNS shape a
 * cluster has, what to write into it, and the state DNSReady reports. The reconciler's part
 * (controller/dns_sync.h) reads the ConfigMaps and the DNSConfig and writes; everything it
 * decides is decided here, so `meshctl`, the unit tests and the daemon agree.
 *
 * Two shapes of CoreDNS configuration are supported, chosen by what exists:
 *  - kube-system/coredns-custom exists (AKS, k3s: the distribution's Corefile imports every
 *    `*.server` key of it): our server block is its own key, MC_DNS_CUSTOM_KEY, applied with
 *    server-side apply so we own that key and nothing else;
 *  - else kube-system/coredns's Corefile key (kubeadm, kind, EKS, GKE's kube-dns-less setups):
 *    our block lives between marker lines (controller/corefile.h), the rest is left byte for
 *    byte.
 */
#ifndef MC_DNS_H
#define MC_DNS_H

#include <stddef.h>

#include "controller/corefile.h"

#define MC_DNS_NAMESPACE    "kube-system"
#define MC_DNS_COREDNS_CM   "coredns"
#define MC_DNS_COREFILE_KEY "Corefile"
#define MC_DNS_CUSTOM_CM    "coredns-custom"
#define MC_DNS_CUSTOM_KEY   "tailnet.server"
#define MC_DNS_KUBE_DNS_SVC "kube-dns"

/* What the last DNS check found, for DNSReady (controller/conditions.h). */
enum mc_dns_state {
    MC_DNS_UNCHECKED,          /* not looked at yet (Unknown) */
    MC_DNS_CONFIGURED,         /* the block forwards the zone to the nameserver */
    MC_DNS_NAMESERVER_PENDING, /* the DNSConfig has no nameserver IP in its status yet */
    MC_DNS_COREFILE_CONFLICT,  /* another server block already serves the zone */
    MC_DNS_COREFILE_MALFORMED, /* the Corefile cannot be edited safely: left alone */
    MC_DNS_COREDNS_MISSING,    /* neither ConfigMap exists: not CoreDNS? */
    MC_DNS_DNSCONFIG_FAILED,   /* the DNSConfig cannot be applied (no Tailscale CRD, RBAC) */
    MC_DNS_WRITE_FAILED,       /* a ConfigMap write failed */
};

/* The state's name for logs ("Configured", "NameserverPending", ...); static. */
const char *mc_dns_state_name(enum mc_dns_state s);

/* The block for the coredns-custom shape: the same server block the editor writes between the
 * markers, as a whole value. Returns the length written (snprintf's), -1 on a bad zone or
 * nameserver (the editor's rules: a DNS name and an IP literal). */
int mc_dns_server_block(const char *zone, const char *nameserver, char *buf, size_t len);

/* The nameserver IP of a DNSConfig object (borrowed JSON), or NULL. The operator's CRD says
 * status.nameserver.ip; the guide says status.nameserverStatus.ip: both are read. */
struct cJSON;
const char *mc_dns_nameserver_ip(const struct cJSON *dnsconfig);

/* ---- `meshctl doctor`'s lookup through cluster DNS: the DNS wire format, pure ---------------- */

/* A query for name's A record with id into buf; returns its length, or -1 when name is not a
 * DNS name or buf (512 bytes suffice) is too small. */
int mc_dns_query(const char *name, unsigned short id, unsigned char *buf, size_t len);

enum mc_dns_answer {
    MC_DNS_ANSWER_RESOLVED,  /* NOERROR with at least one answer record */
    MC_DNS_ANSWER_NXDOMAIN,  /* the name does not exist (the zone is not forwarded) */
    MC_DNS_ANSWER_NODATA,    /* NOERROR without answers */
    MC_DNS_ANSWER_ERROR,     /* SERVFAIL, REFUSED, ...: *rcode says which */
    MC_DNS_ANSWER_MALFORMED, /* not an answer to our query (short, wrong id, not a response) */
};

/* Reads an answer (len bytes from the network: hostile) to the query with id; *rcode (may be
 * NULL) gets the response code. Only the 12-byte header is trusted, nothing else is parsed. */
enum mc_dns_answer mc_dns_read_answer(const unsigned char *buf, size_t len, unsigned short id,
                                      int *rcode);

#endif
