/* kubeconfig and in-cluster configuration; see config.h. */
#include "k8s/config.h"
#include "k8s/base64.h"
#include "k8s/sbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <strings.h>

#include "k8s/yaml.h"

/* Anything bigger than this is not a credential or a kubeconfig. */
#define CONFIG_MAX_FILE (16u * 1024u * 1024u)

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/*
 * Reads a whole file, NUL-terminated. Returns 0 or negative errno. A file that does not fit,
 * with its NUL, in fewer than CONFIG_MAX_FILE bytes is refused with -EFBIG, not truncated.
 */
static int read_file(const char *path, char **out, size_t *len)
{
    *out = NULL;
    if (len)
        *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    k8s__sbuf b = {0};
    char chunk[4096];
    int rc = 0;
    while (!b.failed) {
        size_t got = fread(chunk, 1, sizeof(chunk), f);
        if (got == 0) {
            if (ferror(f))
                rc = -EIO;
            break;
        }
        if (b.len + got + 1 >= CONFIG_MAX_FILE) {
            rc = -EFBIG;
            break;
        }
        k8s__sb_put(&b, chunk, got);
    }
    fclose(f);
    if (rc) {
        free(b.buf);
        return rc;
    }
    size_t n = b.len;
    char *buf = k8s__sb_take(&b);
    if (!buf)
        return -ENOMEM;
    *out = buf;
    if (len)
        *len = n;
    return 0;
}

static char *path_join(const char *dir, const char *file)
{
    if (file[0] == '/' || !dir || !*dir)
        return strdup(file);
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", file);
    return p;
}

static const char *str_member(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

/* Finds {name: <name>, <field>: {...}} in a kubeconfig list. */
static const cJSON *named(const cJSON *root, const char *list, const char *field, const char *name)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, list);
    const cJSON *it;
    if (!name)
        return NULL;
    cJSON_ArrayForEach(it, arr)
    {
        const char *n = str_member(it, "name");
        if (n && strcmp(n, name) == 0) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, field);
            return cJSON_IsObject(v) ? v : NULL;
        }
    }
    return NULL;
}

/* Device, inode, size and mtime of path folded into one number; 0 when it cannot be stat()ed. */
static uint64_t file_signature(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    uint64_t sig = 1469598103934665603ull;
    uint64_t parts[] = {(uint64_t)st.st_dev, (uint64_t)st.st_ino, (uint64_t)st.st_size,
                        (uint64_t)st.st_mtim.tv_sec, (uint64_t)st.st_mtim.tv_nsec};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        sig = (sig ^ parts[i]) * 1099511628211ull;
    return sig ? sig : 1;
}

/* Remembers the file the CA bundle came from, so that k8s_config_refresh_ca can follow it. */
static int remember_ca_file(k8s_config *c, const char *path)
{
    if (!(c->ca_file = strdup(path)))
        return -ENOMEM;
    c->ca_file_sig = file_signature(path);
    return 0;
}

/* Loads "<key>-data" (base64) or "<key>" (a file, relative to base_dir) from obj. */
static int load_blob(const cJSON *obj, const char *key, const char *base_dir, char **out,
                     size_t *len, char *err, size_t errlen)
{
    char data_key[64];
    snprintf(data_key, sizeof(data_key), "%s-data", key);
    const char *data = str_member(obj, data_key);
    const char *file = str_member(obj, key);
    if (data && *data) {
        int rc = k8s_base64_decode(data, CONFIG_MAX_FILE, (unsigned char **)out, len);
        if (rc == -EINVAL)
            return fail(err, errlen, rc, "%s is not valid base64", data_key);
        return rc;
    }
    if (file && *file) {
        char *p = path_join(base_dir, file);
        if (!p)
            return -ENOMEM;
        int rc = read_file(p, out, len);
        if (rc < 0)
            fail(err, errlen, rc, "cannot read %s %s: %s", key, p, strerror(-rc));
        free(p);
        return rc;
    }
    return 0;
}

static k8s_config *config_alloc(void)
{
    return calloc(1, sizeof(k8s_config));
}

void k8s_config_free(k8s_config *c)
{
    if (!c)
        return;
    free(c->server);
    free(c->ca_pem);
    free(c->ca_file);
    free(c->cert_pem);
    if (c->key_pem) {
        /* Private key material should not linger in freed heap memory. */
        volatile char *p = c->key_pem;
        for (size_t i = 0; i < c->key_len; i++)
            p[i] = 0;
    }
    free(c->key_pem);
    free(c->tls_server_name);
    free(c->token);
    free(c->token_file);
    free(c->namespace);
    free(c->context);
    free(c->user_agent);
    free(c);
}

/* True when url's host is this machine's loopback: "localhost", 127.0.0.0/8 or ::1. The host
 * is parsed out by libcurl, so "http://127.0.0.1.example.com" or userinfo tricks do not pass. */
static bool url_host_is_loopback(const char *url)
{
    CURLU *u = curl_url();
    char *host = NULL;
    bool loopback = false;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        struct in_addr v4;
        struct in6_addr v6;
        size_t n = strlen(host);
        if (strcasecmp(host, "localhost") == 0)
            loopback = true;
        else if (inet_pton(AF_INET, host, &v4) == 1)
            loopback = (ntohl(v4.s_addr) >> 24) == 127;
        else if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
            host[n - 1] = '\0';
            loopback = inet_pton(AF_INET6, host + 1, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
        }
    }
    curl_free(host);
    curl_url_cleanup(u);
    return loopback;
}

/*
 * A bearer token sent over plain http can be read by anything on the path. The one plain-http
 * setup worth supporting is `kubectl proxy` on this machine, which holds the credentials itself,
 * so credentials travel in clear only to a loopback host. (A client certificate means nothing
 * without TLS; it is not sent at all over http.)
 */
static int refuse_cleartext_credentials(const k8s_config *c, char *err, size_t errlen)
{
    if (strncmp(c->server, "http://", 7) != 0 || (!c->token && !c->token_file))
        return 0;
    if (url_host_is_loopback(c->server))
        return 0;
    return fail(err, errlen, -EINVAL,
                "server \"%s\" is plain http and the user has a bearer token: refused, the token "
                "would travel in cleartext (use https, or kubectl proxy on a loopback address)",
                c->server);
}

static int from_doc(const cJSON *doc, const char *base_dir, const char *context, k8s_config *c,
                    char *err, size_t errlen)
{
    if (!cJSON_IsObject(doc))
        return fail(err, errlen, -EINVAL, "kubeconfig is not a mapping");
    const char *ctx_name = context ? context : str_member(doc, "current-context");
    if (!ctx_name || !*ctx_name)
        return fail(err, errlen, -EINVAL, "kubeconfig has no current-context");
    const cJSON *ctx = named(doc, "contexts", "context", ctx_name);
    if (!ctx)
        return fail(err, errlen, -EINVAL, "context \"%s\" not found in kubeconfig", ctx_name);
    const char *cluster_name = str_member(ctx, "cluster");
    const cJSON *cluster = named(doc, "clusters", "cluster", cluster_name);
    if (!cluster)
        return fail(err, errlen, -EINVAL, "cluster \"%s\" of context \"%s\" not found",
                    cluster_name ? cluster_name : "", ctx_name);
    const char *user_name = str_member(ctx, "user");
    const cJSON *user = named(doc, "users", "user", user_name);
    if (user_name && *user_name && !user)
        return fail(err, errlen, -EINVAL, "user \"%s\" of context \"%s\" not found", user_name,
                    ctx_name);

    const cJSON *skip = cJSON_GetObjectItemCaseSensitive(cluster, "insecure-skip-tls-verify");
    if (cJSON_IsTrue(skip))
        return fail(err, errlen, -EINVAL,
                    "cluster \"%s\" sets insecure-skip-tls-verify: refused, TLS verification "
                    "is always on (give certificate-authority or certificate-authority-data)",
                    cluster_name);
    const char *server = str_member(cluster, "server");
    if (!server || !*server)
        return fail(err, errlen, -EINVAL, "cluster \"%s\" has no server", cluster_name);
    if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
        return fail(err, errlen, -EINVAL, "server \"%s\" is not an http(s) URL", server);
    c->server = strdup(server);
    c->context = strdup(ctx_name);
    const char *ns = str_member(ctx, "namespace");
    c->namespace = strdup(ns && *ns ? ns : "default");
    const char *sni = str_member(cluster, "tls-server-name");
    if (sni)
        c->tls_server_name = strdup(sni);
    if (!c->server || !c->context || !c->namespace || (sni && !c->tls_server_name))
        return -ENOMEM;
    size_t n = strlen(c->server);
    while (n > 8 && c->server[n - 1] == '/')
        c->server[--n] = '\0';

    int rc =
        load_blob(cluster, "certificate-authority", base_dir, &c->ca_pem, &c->ca_len, err, errlen);
    const char *ca_file = str_member(cluster, "certificate-authority");
    if (rc == 0 && c->ca_pem && ca_file && *ca_file &&
        !str_member(cluster, "certificate-authority-data")) {
        char *p = path_join(base_dir, ca_file);
        rc = p ? remember_ca_file(c, p) : -ENOMEM;
        free(p);
    }
    if (rc < 0 || !user)
        return rc;
    if (cJSON_GetObjectItemCaseSensitive(user, "exec") ||
        cJSON_GetObjectItemCaseSensitive(user, "auth-provider"))
        return fail(err, errlen, -EINVAL,
                    "user \"%s\" uses an exec or auth-provider plugin: not supported", user_name);
    rc = load_blob(user, "client-certificate", base_dir, &c->cert_pem, &c->cert_len, err, errlen);
    if (rc == 0)
        rc = load_blob(user, "client-key", base_dir, &c->key_pem, &c->key_len, err, errlen);
    if (rc < 0)
        return rc;
    if (!c->cert_pem != !c->key_pem)
        return fail(err, errlen, -EINVAL,
                    "user \"%s\" has a client certificate without a key or the reverse", user_name);
    const char *token = str_member(user, "token");
    const char *token_file = str_member(user, "tokenFile");
    if (token && *token && !(c->token = strdup(token)))
        return -ENOMEM;
    if (token_file && *token_file && !(c->token_file = path_join(base_dir, token_file)))
        return -ENOMEM;
    return refuse_cleartext_credentials(c, err, errlen);
}

/* The config for context in a parsed kubeconfig; takes doc (freed in every case). */
static int config_from_doc(cJSON *doc, const char *base_dir, const char *context, k8s_config **out,
                           char *err, size_t errlen)
{
    k8s_config *c = config_alloc();
    int rc = c ? from_doc(doc, base_dir, context, c, err, errlen) : -ENOMEM;
    cJSON_Delete(doc);
    if (rc < 0) {
        if (rc == -ENOMEM)
            fail(err, errlen, rc, "out of memory");
        k8s_config_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int k8s_config_from_kubeconfig_buf(const char *buf, size_t len, const char *base_dir,
                                   const char *context, k8s_config **out, char *err, size_t errlen)
{
    if (!buf || !out)
        return -EINVAL;
    *out = NULL;
    char yerr[256] = "";
    cJSON *doc = k8s_yaml_parse_one(buf, len, yerr, sizeof(yerr));
    if (!doc)
        return fail(err, errlen, -EINVAL, "kubeconfig: %s", yerr);
    return config_from_doc(doc, base_dir, context, out, err, errlen);
}

static bool file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The directory part of path, as a new string ("/" for a file at the root, "" for none). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup("");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

/* Rewrites the relative file paths of one kubeconfig's clusters and users against its own
 * directory, so that entries merged from several files keep meaning what their file meant. */
static int absolutize(cJSON *doc, const char *dir)
{
    static const struct {
        const char *list, *field, *keys[3];
    } where[] = {{"clusters", "cluster", {"certificate-authority", NULL, NULL}},
                 {"users", "user", {"client-certificate", "client-key", "tokenFile"}}};
    for (size_t w = 0; w < sizeof(where) / sizeof(where[0]); w++) {
        cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(doc, where[w].list))
        {
            cJSON *o = cJSON_GetObjectItemCaseSensitive(it, where[w].field);
            for (size_t k = 0; k < 3 && where[w].keys[k]; k++) {
                const char *rel = str_member(o, where[w].keys[k]);
                if (!rel || !*rel || rel[0] == '/')
                    continue;
                char *abs = path_join(dir, rel);
                if (!abs || !cJSON_ReplaceItemInObjectCaseSensitive(o, where[w].keys[k],
                                                                    cJSON_CreateString(abs))) {
                    free(abs);
                    return -ENOMEM;
                }
                free(abs);
            }
        }
    }
    return 0;
}

/*
 * Merges kubeconfig b into a as kubectl merges a $KUBECONFIG list: the first file to name a
 * cluster, user or context keeps it, and the first current-context set wins. Takes b's entries
 * (b is left with what a already had).
 */
static bool has_name(const cJSON *arr, const char *name)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        const char *n = str_member(it, "name");
        if (n && strcmp(n, name) == 0)
            return true;
    }
    return false;
}

static int merge_into(cJSON *a, cJSON *b)
{
    static const char *const lists[] = {"clusters", "users", "contexts"};
    for (size_t l = 0; l < 3; l++) {
        cJSON *from = cJSON_GetObjectItemCaseSensitive(b, lists[l]);
        if (!cJSON_IsArray(from))
            continue;
        cJSON *to = cJSON_GetObjectItemCaseSensitive(a, lists[l]);
        if (!cJSON_IsArray(to) && !(to = cJSON_AddArrayToObject(a, lists[l])))
            return -ENOMEM;
        for (cJSON *it = from->child, *next; it; it = next) {
            next = it->next;
            const char *name = str_member(it, "name");
            if (name && has_name(to, name))
                continue;
            cJSON_AddItemToArray(to, cJSON_DetachItemViaPointer(from, it));
        }
    }
    const char *cur = str_member(a, "current-context");
    const char *theirs = str_member(b, "current-context");
    if ((!cur || !*cur) && theirs && *theirs) {
        cJSON_DeleteItemFromObjectCaseSensitive(a, "current-context");
        if (!cJSON_AddStringToObject(a, "current-context", theirs))
            return -ENOMEM;
    }
    return 0;
}

/* Reads and parses one kubeconfig file with its relative paths made absolute. */
static int read_doc(const char *path, cJSON **doc, char *err, size_t errlen)
{
    char *buf, yerr[256] = "";
    size_t len;
    int rc = read_file(path, &buf, &len);
    if (rc < 0)
        return fail(err, errlen, rc, "cannot read kubeconfig %s: %s", path, strerror(-rc));
    *doc = k8s_yaml_parse_one(buf, len, yerr, sizeof(yerr));
    free(buf);
    if (!*doc)
        return fail(err, errlen, -EINVAL, "kubeconfig %s: %s", path, yerr);
    char *dir = dir_of(path);
    rc = dir ? absolutize(*doc, dir) : -ENOMEM;
    free(dir);
    if (rc < 0) {
        cJSON_Delete(*doc);
        *doc = NULL;
        return fail(err, errlen, rc, "out of memory");
    }
    return 0;
}

/* Every existing file of a $KUBECONFIG list, merged; -ENOENT when none exists. */
static int merged_env_doc(const char *env, cJSON **out, char *err, size_t errlen)
{
    char *list = strdup(env);
    if (!list)
        return -ENOMEM;
    *out = NULL;
    int rc = 0;
    char *save = NULL;
    for (char *p = strtok_r(list, ":", &save); p && rc == 0; p = strtok_r(NULL, ":", &save)) {
        if (!file_exists(p))
            continue; /* as kubectl does: a listed file that does not exist is skipped */
        cJSON *doc;
        rc = read_doc(p, &doc, err, errlen);
        if (rc == 0 && !*out) {
            *out = doc;
        } else if (rc == 0) {
            rc = merge_into(*out, doc);
            cJSON_Delete(doc);
            if (rc < 0)
                fail(err, errlen, rc, "out of memory");
        }
    }
    free(list);
    if (rc == 0 && !*out)
        rc = fail(err, errlen, -ENOENT, "no file of $KUBECONFIG exists");
    if (rc < 0) {
        cJSON_Delete(*out);
        *out = NULL;
    }
    return rc;
}

int k8s_config_from_kubeconfig(const char *path, const char *context, k8s_config **out, char *err,
                               size_t errlen)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    char *chosen = NULL;
    if (path && *path) {
        chosen = strdup(path);
    } else {
        const char *env = getenv("KUBECONFIG");
        if (env && *env) {
            cJSON *doc;
            int rc = merged_env_doc(env, &doc, err, errlen);
            /* Every path in doc is absolute by now. */
            return rc < 0 ? rc : config_from_doc(doc, NULL, context, out, err, errlen);
        } else {
            const char *home = getenv("HOME");
            if (!home || !*home)
                return fail(err, errlen, -ENOENT, "no kubeconfig: $KUBECONFIG and $HOME unset");
            chosen = path_join(home, ".kube/config");
        }
    }
    if (!chosen)
        return -ENOMEM;
    char *buf;
    size_t len;
    int rc = read_file(chosen, &buf, &len);
    if (rc < 0) {
        fail(err, errlen, rc, "cannot read kubeconfig %s: %s", chosen, strerror(-rc));
        free(chosen);
        return rc;
    }
    char *slash = strrchr(chosen, '/');
    if (slash)
        slash == chosen ? (void)(slash[1] = '\0') : (void)(*slash = '\0');
    rc = k8s_config_from_kubeconfig_buf(buf, len, slash ? chosen : NULL, context, out, err, errlen);
    free(buf);
    free(chosen);
    return rc;
}

static char *trimmed(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    size_t lead = strspn(s, " \t\r\n");
    if (lead)
        memmove(s, s + lead, n - lead + 1);
    return s;
}

int k8s_config_from_incluster(const char *root, k8s_config **out, char *err, size_t errlen)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host || !port || !*port)
        return fail(err, errlen, -ENOENT,
                    "not in a cluster: KUBERNETES_SERVICE_HOST/_PORT are not set");
    k8s_config *c = config_alloc();
    if (!c)
        return -ENOMEM;
    char *sa = path_join(root && *root ? root : "/", K8S_SA_DIR);
    char *ca_path = sa ? path_join(sa, "ca.crt") : NULL;
    char *ns_path = sa ? path_join(sa, "namespace") : NULL;
    size_t slen = strlen(host) + strlen(port) + 16;
    c->server = malloc(slen);
    c->token_file = sa ? path_join(sa, "token") : NULL;
    c->context = strdup("in-cluster");
    int rc = 0;
    if (!sa || !ca_path || !ns_path || !c->server || !c->token_file || !c->context) {
        rc = fail(err, errlen, -ENOMEM, "out of memory");
        goto out;
    }
    snprintf(c->server, slen, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
    rc = read_file(ca_path, &c->ca_pem, &c->ca_len);
    if (rc < 0) {
        fail(err, errlen, rc, "cannot read %s: %s", ca_path, strerror(-rc));
        goto out;
    }
    if ((rc = remember_ca_file(c, ca_path)) < 0)
        goto out;
    const char *pod_ns = getenv("POD_NAMESPACE");
    if (pod_ns && *pod_ns) {
        c->namespace = strdup(pod_ns);
    } else {
        char *ns = NULL;
        if (read_file(ns_path, &ns, NULL) == 0 && *trimmed(ns))
            c->namespace = ns;
        else {
            free(ns);
            c->namespace = strdup("default");
        }
    }
    if (!c->namespace) {
        rc = -ENOMEM;
        goto out;
    }
    /* A pod without its token cannot talk to the API server; say so at start-up. */
    const char *tok;
    rc = k8s_config_token(c, 0, true, &tok);
    if (rc < 0 || !tok) {
        rc = rc < 0 ? rc : -ENOENT;
        fail(err, errlen, rc, "cannot read the service-account token %s", c->token_file);
    }
out:
    free(sa);
    free(ca_path);
    free(ns_path);
    if (rc < 0)
        k8s_config_free(c);
    else
        *out = c;
    return rc;
}

int k8s_config_load(const char *path, const char *context, k8s_config **out, char *err,
                    size_t errlen)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    if ((!path || !*path) && host && *host && !getenv("KUBECONFIG"))
        return k8s_config_from_incluster(NULL, out, err, errlen);
    return k8s_config_from_kubeconfig(path, context, out, err, errlen);
}

int k8s_config_token(k8s_config *c, uint64_t now_ms, bool force, const char **token)
{
    *token = NULL;
    if (!c)
        return -EINVAL;
    if (c->token_file &&
        (force || !c->token_read_once || now_ms - c->token_read_ms >= K8S_TOKEN_REREAD_MS)) {
        c->token_read_once = true;
        c->token_read_ms = now_ms;
        char *t = NULL;
        if (read_file(c->token_file, &t, NULL) == 0 && *trimmed(t)) {
            if (c->token && strcmp(c->token, t) != 0)
                c->token_changes++;
            free(c->token);
            c->token = t;
        } else {
            free(t); /* keep the previous token: a rotation may be half-written */
        }
    }
    *token = c->token;
    if (!c->token && c->token_file)
        return -ENOENT;
    return 0;
}

int k8s_config_refresh_ca(k8s_config *c, uint64_t now_ms, bool force)
{
    if (!c->ca_file)
        return 0;
    if (!force && now_ms - c->ca_checked_ms < K8S_CA_RECHECK_MS)
        return 0;
    c->ca_checked_ms = now_ms;
    uint64_t sig = file_signature(c->ca_file);
    if (sig == 0 || sig == c->ca_file_sig)
        return 0;
    char *pem = NULL;
    size_t len = 0;
    int rc = read_file(c->ca_file, &pem, &len);
    if (rc < 0 || len == 0) {
        free(pem);
        return rc < 0 ? rc : -EINVAL; /* half-written or gone: keep what worked */
    }
    free(c->ca_pem);
    c->ca_pem = pem;
    c->ca_len = len;
    c->ca_file_sig = sig;
    return 1;
}
