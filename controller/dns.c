/* Cluster DNS for the tailnet, the pure part; see dns.h. */
#include "controller/dns.h"

#include <arpa/inet.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "controller/validate.h"

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
