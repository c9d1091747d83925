/* Cluster DNS for the tailnet, the pure part; see dns.h. */
#include "controller/dns.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "controller/validate.h"

const char *mc_dns_state_name(enum mc_dns_state s)
{
    static const char *const names[] = {
        [MC_DNS_UNCHECKED] = "Unchecked",
        [MC_DNS_CONFIGURED] = "Configured",
        [MC_DNS_NAMESERVER_PENDING] = "NameserverPending",
        [MC_DNS_COREFILE_CONFLICT] = "CorefileConflict",
        [MC_DNS_COREFILE_MALFORMED] = "CorefileMalformed",
        [MC_DNS_COREDNS_MISSING] = "CoreDNSConfigMissing",
        [MC_DNS_DNSCONFIG_FAILED] = "DNSConfigFailed",
        [MC_DNS_WRITE_FAILED] = "WriteFailed",
    };
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "";
}

int mc_dns_server_block(const char *zone, const char *nameserver, char *buf, size_t len)
{
    unsigned char ip[16];
    if (!zone || !nameserver || !mc_is_dns1123_subdomain(zone) ||
        (inet_pton(AF_INET, nameserver, ip) != 1 && inet_pton(AF_INET6, nameserver, ip) != 1))
        return -1;
    /* The editor's block without its markers: the whole key is ours, nothing to delimit. */
    return snprintf(buf, len, "%s:53 {\n    errors\n    cache 30\n    forward . %s\n}\n", zone,
                    nameserver);
}

static const char *ip_under(const cJSON *status, const char *field)
{
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(status, field);
    const cJSON *ip = cJSON_GetObjectItemCaseSensitive(ns, "ip");
    return cJSON_IsString(ip) && ip->valuestring[0] ? ip->valuestring : NULL;
}

const char *mc_dns_nameserver_ip(const cJSON *dnsconfig)
{
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(dnsconfig, "status");
    const char *ip = ip_under(status, "nameserver");
    return ip ? ip : ip_under(status, "nameserverStatus");
}

int mc_dns_query(const char *name, unsigned short id, unsigned char *buf, size_t len)
{
    size_t n = name ? strlen(name) : 0;
    /* Header, labels (one length byte per label: at most n + 2 with the root), type, class. */
    if (!n || !mc_is_dns1123_subdomain(name) || len < 12 + n + 2 + 4)
        return -1;
    memset(buf, 0, 12);
    buf[0] = (unsigned char)(id >> 8);
    buf[1] = (unsigned char)id;
    buf[2] = 0x01; /* RD: cluster DNS recurses (forwards) for us */
    buf[5] = 1;    /* QDCOUNT */
    size_t at = 12;
    for (const char *label = name; *label;) {
        const char *dot = strchr(label, '.');
        size_t l = dot ? (size_t)(dot - label) : strlen(label);
        if (l == 0 || l > 63)
            return -1;
        buf[at++] = (unsigned char)l;
        memcpy(buf + at, label, l);
        at += l;
        label += l + (dot ? 1 : 0);
    }
    buf[at++] = 0;
    buf[at++] = 0, buf[at++] = 1; /* QTYPE A */
    buf[at++] = 0, buf[at++] = 1; /* QCLASS IN */
    return (int)at;
}

enum mc_dns_answer mc_dns_read_answer(const unsigned char *buf, size_t len, unsigned short id,
                                      int *rcode)
{
    if (rcode)
        *rcode = -1;
    if (!buf || len < 12 || ((buf[0] << 8) | buf[1]) != id || !(buf[2] & 0x80))
        return MC_DNS_ANSWER_MALFORMED;
    int rc = buf[3] & 0x0f;
    if (rcode)
        *rcode = rc;
    unsigned ancount = (unsigned)(buf[6] << 8) | buf[7];
    if (rc == 3)
        return MC_DNS_ANSWER_NXDOMAIN;
    if (rc != 0)
        return MC_DNS_ANSWER_ERROR;
    return ancount ? MC_DNS_ANSWER_RESOLVED : MC_DNS_ANSWER_NODATA;
}
