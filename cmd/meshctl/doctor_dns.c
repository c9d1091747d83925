/* meshctl doctor's lookups through cluster DNS; see doctor_dns.h. */
#include "cmd/meshctl/doctor_dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DNS_TIMEOUT_MS 1500

/* "IP" or "IP:PORT" / "[IPv6]:PORT" into *ss; 0 or -1. */
static int server_addr(const char *server, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    int port = 53;
    const char *colon = strrchr(server, ':');
    if (server[0] == '[') {
        const char *end = strchr(server, ']');
        if (!end || (size_t)(end - server - 1) >= sizeof(host))
            return -1;
        snprintf(host, sizeof(host), "%.*s", (int)(end - server - 1), server + 1);
        if (end[1] == ':')
            port = atoi(end + 2);
    } else if (colon && strchr(server, ':') == colon) {
        snprintf(host, sizeof(host), "%.*s", (int)(colon - server), server);
        port = atoi(colon + 1);
    } else {
        snprintf(host, sizeof(host), "%s", server);
    }
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (port <= 0 || port > 65535)
        return -1;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((unsigned short)port);
        *len = sizeof(*v4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((unsigned short)port);
        *len = sizeof(*v6);
        return 0;
    }
    return -1;
}

/* One query and its answer; -ETIMEDOUT when none came (or only strangers' datagrams). */
static int ask(int fd, const char *name, unsigned short id, struct mc_doctor_lookup *l)
{
    unsigned char q[512], a[1500];
    int n = mc_dns_query(name, id, q, sizeof(q));
    if (n < 0)
        return -EINVAL;
    if (send(fd, q, (size_t)n, 0) != n)
        return -errno;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (poll(&p, 1, DNS_TIMEOUT_MS) == 1) {
        ssize_t got = recv(fd, a, sizeof(a), 0);
        if (got < 0)
            return -errno; /* ICMP port unreachable: nothing listens */
        l->answer = mc_dns_read_answer(a, (size_t)got, id, &l->rcode);
        if (l->answer != MC_DNS_ANSWER_MALFORMED)
            return 0;
    }
    return -ETIMEDOUT;
}

static int lookups_alloc(const cJSON *meshclusters, struct doctor_dns *out)
{
    size_t n = (size_t)cJSON_GetArraySize(meshclusters);
    out->lookups = calloc(n ? n : 1, sizeof(*out->lookups));
    if (!out->lookups)
        return -ENOMEM;
    for (const cJSON *it = meshclusters ? meshclusters->child : NULL; it; it = it->next) {
        char *name = mc_doctor_api_name(it);
        if (name)
            out->lookups[out->nlookups++].name = name;
    }
    return 0;
}

void doctor_dns_ask(const char *server, const char *why_none, const cJSON *meshclusters,
                    struct doctor_dns *out)
{
    memset(out, 0, sizeof(*out));
    struct sockaddr_storage ss;
    socklen_t sl;
    if (!server || !server[0] || server_addr(server, &ss, &sl) != 0) {
        snprintf(out->skip, sizeof(out->skip), "%s", why_none ? why_none : "no cluster DNS");
        return;
    }
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) != 0 ||
        lookups_alloc(meshclusters, out) != 0) {
        snprintf(out->skip, sizeof(out->skip), "cannot ask %s: %s", server, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    unsigned short id = (unsigned short)(time(NULL) ^ getpid());
    for (size_t i = 0; i < out->nlookups; i++) {
        int rc = ask(fd, out->lookups[i].name, (unsigned short)(id + i), &out->lookups[i]);
        if (rc == -EINVAL) {
            out->lookups[i].answer = MC_DNS_ANSWER_MALFORMED;
            continue;
        }
        if (rc < 0) {
            snprintf(out->skip, sizeof(out->skip), "cluster DNS at %s did not answer (%s)", server,
                     rc == -ETIMEDOUT ? "not reachable from here?" : strerror(-rc));
            break;
        }
    }
    close(fd);
}

void doctor_dns_free(struct doctor_dns *d)
{
    for (size_t i = 0; i < d->nlookups; i++)
        free((char *)d->lookups[i].name);
    free(d->lookups);
    memset(d, 0, sizeof(*d));
}
