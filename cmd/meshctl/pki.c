/*
 * meshctl pki: create the mesh's shared root CA and per-cluster intermediates in Istio's
 * cacerts layout, print the cacerts Secret, and verify a bundle. All certificate work is in
 * pki/; this file parses flags, reads and writes files, and prints. Private keys are written
 * 0600 and never printed (except inside the Secret manifest, which is its purpose).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "cmd/meshctl/commands.h"
#include "pki/pki.h"

#define ROOT_DAYS_DEFAULT         3650
#define INTERMEDIATE_DAYS_DEFAULT 730 /* Istio's Makefile.selfsigned.mk default */
#define MAX_DAYS                  36500
/* Istio's intermediates name istiod's service, as its Makefile does. */
#define ISTIOD_SAN "istiod.istio-system.svc"

/* ------------------------------------------------------------------------------------------ */
/* Flags                                                                                      */
/* ------------------------------------------------------------------------------------------ */

struct flag {
    const char *name;   /* "--out" */
    const char **value; /* set for flags taking a value */
    bool *on;           /* set for boolean flags */
};

/* Returns 0, or 2 after printing a usage error. "--help" sets *help. */
static int parse_flags(const char *cmd, int argc, char **argv, struct flag *flags, bool *help,
                       FILE *err)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            *help = true;
            return 0;
        }
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        struct flag *f = NULL;
        for (struct flag *c = flags; c->name; c++)
            if (strlen(c->name) == name_len && strncmp(c->name, arg, name_len) == 0)
                f = c;
        if (!f) {
            fprintf(err, "meshctl pki %s: unknown argument \"%s\"\n", cmd, arg);
            return 2;
        }
        if (f->on) {
            if (eq) {
                fprintf(err, "meshctl pki %s: %s takes no value\n", cmd, f->name);
                return 2;
            }
            *f->on = true;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v || !*v) {
            fprintf(err, "meshctl pki %s: %s needs a value\n", cmd, f->name);
            return 2;
        }
        *f->value = v;
    }
    return 0;
}

static int require(const char *cmd, const char *flag, const char *value, FILE *err)
{
    if (value)
        return 0;
    fprintf(err, "meshctl pki %s: %s is required (see --help)\n", cmd, flag);
    return 2;
}

static int parse_days(const char *cmd, const char *s, int def, int *out, FILE *err)
{
    if (!s) {
        *out = def;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !end || *end || v <= 0 || v > MAX_DAYS) {
        fprintf(err, "meshctl pki %s: --days must be a whole number from 1 to %d\n", cmd, MAX_DAYS);
        return 2;
    }
    *out = (int)v;
    return 0;
}

/* Kubernetes label values and DNS-1123 labels: what a cluster name must be anyway. */
static bool valid_cluster_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Files                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static void join(char *buf, size_t size, const char *dir, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
}

/* Like `mkdir -p`: output folders such as certs/cluster-a are created with their parents. */
static int ensure_dir(const char *dir, FILE *err)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s", dir) >= sizeof(path)) {
        fprintf(err, "meshctl pki: path too long: %s\n", dir);
        return 1;
    }
    for (char *p = path + 1;; p++) {
        bool last = *p == '\0';
        if (*p != '/' && !last)
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            fprintf(err, "meshctl pki: cannot create directory %s: %s\n", path, strerror(errno));
            return 1;
        }
        if (last)
            break;
        *p = '/';
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(err, "meshctl pki: %s is not a directory\n", dir);
        return 1;
    }
    return 0;
}

/* Refuses up front, before a slow key generation, when any output already exists. */
static int refuse_existing(const char *dir, const char *const *names, bool force, FILE *err)
{
    if (force)
        return 0;
    int rc = 0;
    for (const char *const *n = names; *n; n++) {
        char path[4096];
        join(path, sizeof(path), dir, *n);
        if (access(path, F_OK) == 0) {
            fprintf(err, "meshctl pki: refusing to overwrite %s (use --force)\n", path);
            rc = 1;
        }
    }
    return rc;
}

static int write_out(const char *dir, const char *name, const char *data, size_t len, unsigned mode,
                     bool force, FILE *err)
{
    char path[4096];
    join(path, sizeof(path), dir, name);
    int rc = pki_file_write(path, data, len, mode, force);
    if (rc == PKI_EEXIST)
        fprintf(err, "meshctl pki: refusing to overwrite %s (use --force)\n", path);
    else if (rc != 0)
        fprintf(err, "meshctl pki: cannot write %s: %s\n", path, strerror(errno));
    return rc == 0 ? 0 : 1;
}

/* Reads dir/name; a missing file leaves *b absent (data NULL) rather than failing. */
static int read_part(const char *dir, const char *name, struct pki_bytes *b, FILE *err)
{
    char path[4096];
    join(path, sizeof(path), dir, name);
    b->data = NULL;
    b->len = 0;
    if (access(path, F_OK) != 0)
        return 0;
    char *buf = NULL;
    int rc = pki_file_read(path, &buf, &b->len);
    if (rc != 0) {
        fprintf(err, "meshctl pki: cannot read %s\n", path);
        return 1;
    }
    b->data = buf;
    return 0;
}

/* Key material is wiped before its memory goes back to the allocator. */
static void free_secret(char *buf, size_t len)
{
    if (buf)
        OPENSSL_cleanse(buf, len);
    free(buf);
}

static void free_parts(struct pki_bundle_bytes *p)
{
    free((void *)p->ca_cert.data);
    free_secret((char *)p->ca_key.data, p->ca_key.len);
    free((void *)p->root_cert.data);
    free((void *)p->cert_chain.data);
    memset(p, 0, sizeof(*p));
}

static int read_bundle(const char *dir, struct pki_bundle_bytes *p, FILE *err)
{
    memset(p, 0, sizeof(*p));
    if (read_part(dir, "ca-cert.pem", &p->ca_cert, err) ||
        read_part(dir, "ca-key.pem", &p->ca_key, err) ||
        read_part(dir, "root-cert.pem", &p->root_cert, err) ||
        read_part(dir, "cert-chain.pem", &p->cert_chain, err)) {
        free_parts(p);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* pki root                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* The root's fingerprint is what users copy into spec.trust.rootCAFingerprint. */
static void print_summary(FILE *out, X509 *cert, const char *what, X509 *root)
{
    char fp[PKI_FP_LEN], until[PKI_TIME_LEN];
    pki_fingerprint_sha256(root, fp);
    pki_asn1_time_to_rfc3339(X509_get0_notAfter(cert), until, NULL);
    fprintf(out, "sha256 Fingerprint=%s\n", fp);
    fprintf(out, "%s notAfter=%s\n", what, until);
}

static int cmd_root(int argc, char **argv, FILE *out, FILE *err)
{
    const char *dir = NULL, *days_s = NULL, *org = NULL;
    bool rsa = false, force = false, help = false;
    struct flag flags[] = {{"--out", &dir, NULL}, {"--days", &days_s, NULL}, {"--org", &org, NULL},
                           {"--rsa", NULL, &rsa}, {"--force", NULL, &force}, {NULL, NULL, NULL}};
    int rc = parse_flags("root", argc, argv, flags, &help, err);
    if (rc)
        return rc;
    if (help) {
        fprintf(out,
                "Usage: meshctl pki root --out DIR [--rsa] [--days N] [--org O] [--force]\n\n"
                "Creates the mesh's shared root CA: DIR/root-cert.pem and DIR/root-key.pem "
                "(0600).\nECDSA P-256 unless --rsa (RSA 4096); valid %d days unless --days; "
                "O=Istio unless --org.\nPrints the root's fingerprint, the value of "
                "spec.trust.rootCAFingerprint.\n",
                ROOT_DAYS_DEFAULT);
        return 0;
    }
    int days;
    if ((rc = require("root", "--out", dir, err)) ||
        (rc = parse_days("root", days_s, ROOT_DAYS_DEFAULT, &days, err)))
        return rc;
    static const char *const outputs[] = {"root-key.pem", "root-cert.pem", NULL};
    if (ensure_dir(dir, err) || refuse_existing(dir, outputs, force, err))
        return 1;

    char msg[512];
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    char *key_pem = NULL, *cert_pem = NULL;
    size_t key_len = 0, cert_len = 0;
    struct pki_ca_opts opts = {.org = org, .days = days};
    rc = 1;
    if (pki_key_generate(rsa ? PKI_KEY_RSA_4096 : PKI_KEY_EC_P256, &key, msg, sizeof(msg)) != 0 ||
        pki_root_create(key, &opts, &cert, msg, sizeof(msg)) != 0) {
        fprintf(err, "meshctl pki root: %s\n", msg);
        goto done;
    }
    if (pki_pem_encode_key(key, &key_pem, &key_len) != 0 ||
        pki_pem_encode_cert(cert, &cert_pem, &cert_len) != 0) {
        fprintf(err, "meshctl pki root: cannot encode the root as PEM\n");
        goto done;
    }
    if (write_out(dir, "root-key.pem", key_pem, key_len, 0600, force, err) ||
        write_out(dir, "root-cert.pem", cert_pem, cert_len, 0644, force, err))
        goto done;
    fprintf(out, "wrote %s/root-cert.pem and %s/root-key.pem (%s)\n", dir, dir,
            rsa ? "RSA 4096" : "ECDSA P-256");
    print_summary(out, cert, "root", cert);
    rc = 0;
done:
    free_secret(key_pem, key_len);
    free(cert_pem);
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* pki intermediate                                                                           */
/* ------------------------------------------------------------------------------------------ */

static int load_root(const char *dir, X509 **cert, EVP_PKEY **key, FILE *err)
{
    struct pki_bytes c = {0}, k = {0};
    char msg[256];
    int rc = 1;
    if (read_part(dir, "root-cert.pem", &c, err) || read_part(dir, "root-key.pem", &k, err))
        goto done;
    if (!c.data || !k.data) {
        fprintf(err, "meshctl pki intermediate: %s/%s is missing\n", dir,
                c.data ? "root-key.pem" : "root-cert.pem");
        goto done;
    }
    if (pki_pem_parse_cert(c, cert, msg, sizeof(msg)) != 0) {
        fprintf(err, "meshctl pki intermediate: %s/root-cert.pem: %s\n", dir, msg);
        goto done;
    }
    if (pki_pem_parse_key(k, key, msg, sizeof(msg)) != 0) {
        fprintf(err, "meshctl pki intermediate: %s/root-key.pem: %s\n", dir, msg);
        goto done;
    }
    if (X509_check_ca(*cert) != 1) {
        fprintf(err, "meshctl pki intermediate: %s/root-cert.pem is not a CA certificate\n", dir);
        goto done;
    }
    rc = 0;
done:
    free((void *)c.data);
    free_secret((char *)k.data, k.len);
    return rc;
}

static int cmd_intermediate(int argc, char **argv, FILE *out, FILE *err)
{
    const char *cluster = NULL, *root_dir = NULL, *dir = NULL, *days_s = NULL;
    bool force = false, help = false;
    struct flag flags[] = {{"--cluster", &cluster, NULL}, {"--root", &root_dir, NULL},
                           {"--out", &dir, NULL},         {"--days", &days_s, NULL},
                           {"--force", NULL, &force},     {NULL, NULL, NULL}};
    int rc = parse_flags("intermediate", argc, argv, flags, &help, err);
    if (rc)
        return rc;
    if (help) {
        fprintf(out,
                "Usage: meshctl pki intermediate --cluster NAME --root DIR --out DIR [--days N] "
                "[--force]\n\nSigns an intermediate CA for one cluster with the root in "
                "DIR/root-cert.pem + root-key.pem\nand writes Istio's cacerts files: ca-cert.pem, "
                "ca-key.pem (0600), root-cert.pem, cert-chain.pem.\nThe key type follows the "
                "root's; valid %d days unless --days, never past the root.\n",
                INTERMEDIATE_DAYS_DEFAULT);
        return 0;
    }
    int days;
    if ((rc = require("intermediate", "--cluster", cluster, err)) ||
        (rc = require("intermediate", "--root", root_dir, err)) ||
        (rc = require("intermediate", "--out", dir, err)) ||
        (rc = parse_days("intermediate", days_s, INTERMEDIATE_DAYS_DEFAULT, &days, err)))
        return rc;
    if (!valid_cluster_name(cluster)) {
        fprintf(err, "meshctl pki intermediate: --cluster must be a DNS label (lower-case "
                     "letters, digits and '-', at most 63)\n");
        return 2;
    }
    static const char *const outputs[] = {"ca-key.pem", "ca-cert.pem", "root-cert.pem",
                                          "cert-chain.pem", NULL};
    X509 *root = NULL, *cert = NULL;
    EVP_PKEY *root_key = NULL, *key = NULL;
    char *key_pem = NULL, *cert_pem = NULL, *root_pem = NULL, *chain = NULL;
    size_t key_len = 0, cert_len = 0, root_len = 0;
    char msg[512];
    rc = 1;
    if (load_root(root_dir, &root, &root_key, err) || ensure_dir(dir, err) ||
        refuse_existing(dir, outputs, force, err))
        goto done;
    struct pki_ca_opts opts = {.locality = cluster, .san_dns = ISTIOD_SAN, .days = days};
    if (pki_key_generate(pki_key_type_of(root_key), &key, msg, sizeof(msg)) != 0 ||
        pki_intermediate_create(root, root_key, key, &opts, &cert, msg, sizeof(msg)) != 0) {
        fprintf(err, "meshctl pki intermediate: %s\n", msg);
        goto done;
    }
    if (pki_pem_encode_key(key, &key_pem, &key_len) != 0 ||
        pki_pem_encode_cert(cert, &cert_pem, &cert_len) != 0 ||
        pki_pem_encode_cert(root, &root_pem, &root_len) != 0 ||
        !(chain = malloc(cert_len + root_len + 1))) {
        fprintf(err, "meshctl pki intermediate: cannot encode the certificates as PEM\n");
        goto done;
    }
    /* Istio's layout: the chain is the intermediate, then the root. */
    memcpy(chain, cert_pem, cert_len);
    memcpy(chain + cert_len, root_pem, root_len + 1);
    if (write_out(dir, "ca-key.pem", key_pem, key_len, 0600, force, err) ||
        write_out(dir, "ca-cert.pem", cert_pem, cert_len, 0644, force, err) ||
        write_out(dir, "root-cert.pem", root_pem, root_len, 0644, force, err) ||
        write_out(dir, "cert-chain.pem", chain, cert_len + root_len, 0644, force, err))
        goto done;
    fprintf(out, "wrote %s/{ca-cert,ca-key,root-cert,cert-chain}.pem for cluster %s\n", dir,
            cluster);
    print_summary(out, cert, "intermediate", root);
    rc = 0;
done:
    free_secret(key_pem, key_len);
    free(cert_pem);
    free(root_pem);
    free(chain);
    X509_free(cert);
    X509_free(root);
    EVP_PKEY_free(key);
    EVP_PKEY_free(root_key);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* pki verify and cacerts-secret                                                              */
/* ------------------------------------------------------------------------------------------ */

/*
 * Parses and checks DIR's bundle against anchor_file (or DIR/root-cert.pem), printing every
 * problem to err. Returns 0 when valid, 1 otherwise; *report is filled either way.
 */
static int check_dir(const char *cmd, const char *dir, const char *anchor_file,
                     struct pki_bundle_bytes *parts, struct pki_check_report *report, FILE *err)
{
    X509 *anchor = NULL;
    struct pki_bundle b;
    memset(&b, 0, sizeof(b));
    if (anchor_file) {
        char *buf = NULL;
        size_t len = 0;
        char msg[256];
        if (pki_file_read(anchor_file, &buf, &len) != 0) {
            fprintf(err, "meshctl pki %s: cannot read %s\n", cmd, anchor_file);
            return 1;
        }
        int rc = pki_pem_parse_cert((struct pki_bytes){buf, len}, &anchor, msg, sizeof(msg));
        free(buf);
        if (rc != 0) {
            fprintf(err, "meshctl pki %s: %s: %s\n", cmd, anchor_file, msg);
            return 1;
        }
    }
    int rc = 1;
    if (read_bundle(dir, parts, err))
        goto done;
    if (pki_bundle_parse(parts, true, &b, report) != 0 ||
        pki_bundle_check(&b, anchor, time(NULL), report) != 0) {
        fprintf(err, "meshctl pki %s: out of memory\n", cmd);
        goto done;
    }
    for (size_t i = 0; i < report->n_problems; i++)
        fprintf(err, "meshctl pki %s: %s/%s\n", cmd, dir, report->problems[i].text);
    rc = report->n_problems ? 1 : 0;
done:
    pki_bundle_clear(&b);
    X509_free(anchor);
    return rc;
}

static int cmd_verify(int argc, char **argv, FILE *out, FILE *err)
{
    const char *dir = NULL, *root = NULL;
    bool help = false;
    struct flag flags[] = {{"--dir", &dir, NULL}, {"--root", &root, NULL}, {NULL, NULL, NULL}};
    int rc = parse_flags("verify", argc, argv, flags, &help, err);
    if (rc)
        return rc;
    if (help) {
        fprintf(out, "Usage: meshctl pki verify --dir DIR [--root FILE]\n\n"
                     "Checks the cacerts files in DIR: the chain to the root (FILE when given, "
                     "else DIR/root-cert.pem)\nas the only trust anchor, key match, CA flags and "
                     "key usage, expiry. Prints the root's\nSHA-256 fingerprint as `openssl x509 "
                     "-noout -fingerprint -sha256` does and the intermediate's\nnotAfter. Exit 1 "
                     "with one line per problem.\n");
        return 0;
    }
    if ((rc = require("verify", "--dir", dir, err)))
        return rc;
    struct pki_bundle_bytes parts;
    struct pki_check_report *report = calloc(1, sizeof(*report));
    if (!report)
        return 1;
    rc = check_dir("verify", dir, root, &parts, report, err);
    if (report->root_fingerprint[0])
        fprintf(out, "sha256 Fingerprint=%s\n", report->root_fingerprint);
    if (report->not_after_rfc3339[0])
        fprintf(out, "intermediate notAfter=%s\n", report->not_after_rfc3339);
    if (rc == 0 && report->expiring_soon)
        fprintf(err, "meshctl pki verify: warning: %s/ca-cert.pem expires within 30 days (%s)\n",
                dir, report->not_after_rfc3339);
    if (rc == 0)
        fprintf(out, "ok: chain, key, CA flags, key usage and validity\n");
    free_parts(&parts);
    free(report);
    return rc;
}

static int print_b64_field(FILE *out, const char *name, struct pki_bytes b)
{
    size_t cap = 4 * ((b.len + 2) / 3) + 1;
    unsigned char *enc = malloc(cap);
    if (!enc)
        return 1;
    EVP_EncodeBlock(enc, b.data, (int)b.len);
    fprintf(out, "  %s: %s\n", name, enc);
    OPENSSL_cleanse(enc, cap);
    free(enc);
    return 0;
}

static int cmd_cacerts_secret(int argc, char **argv, FILE *out, FILE *err)
{
    const char *cluster = NULL, *dir = NULL;
    bool help = false;
    struct flag flags[] = {
        {"--cluster", &cluster, NULL}, {"--dir", &dir, NULL}, {NULL, NULL, NULL}};
    int rc = parse_flags("cacerts-secret", argc, argv, flags, &help, err);
    if (rc)
        return rc;
    if (help) {
        fprintf(out, "Usage: meshctl pki cacerts-secret --cluster NAME --dir DIR\n\n"
                     "Prints the istio-system/cacerts Secret holding DIR's four cacerts files, "
                     "after checking\nthem as `meshctl pki verify` does. For kubectl apply, or "
                     "for GitOps through sealed or\nexternal secrets: the output holds the "
                     "intermediate's private key.\n");
        return 0;
    }
    if ((rc = require("cacerts-secret", "--cluster", cluster, err)) ||
        (rc = require("cacerts-secret", "--dir", dir, err)))
        return rc;
    if (!valid_cluster_name(cluster)) {
        fprintf(err, "meshctl pki cacerts-secret: --cluster must be a DNS label\n");
        return 2;
    }
    struct pki_bundle_bytes parts;
    struct pki_check_report *report = calloc(1, sizeof(*report));
    if (!report)
        return 1;
    rc = check_dir("cacerts-secret", dir, NULL, &parts, report, err);
    if (rc == 0) {
        fprintf(out,
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cacerts\n"
                "  namespace: istio-system\n  labels:\n"
                "    app.kubernetes.io/managed-by: meshctl\n"
                "    meshcluster.io/cluster: %s\n  annotations:\n"
                "    meshcluster.io/root-fingerprint: \"%s\"\ntype: Opaque\ndata:\n",
                cluster, report->root_fingerprint);
        rc = print_b64_field(out, "ca-cert.pem", parts.ca_cert) ||
             print_b64_field(out, "ca-key.pem", parts.ca_key) ||
             print_b64_field(out, "cert-chain.pem", parts.cert_chain) ||
             print_b64_field(out, "root-cert.pem", parts.root_cert);
    }
    free_parts(&parts);
    free(report);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */

static void pki_usage(FILE *f)
{
    fprintf(f, "Usage: meshctl pki <command> [options]\n\nCommands:\n"
               "  root            create the mesh's shared root CA\n"
               "  intermediate    sign one cluster's intermediate CA (Istio's cacerts files)\n"
               "  cacerts-secret  print the istio-system/cacerts Secret for a cacerts folder\n"
               "  verify          check a cacerts folder and print the root's fingerprint\n\n"
               "Run 'meshctl pki <command> --help' for its options.\n");
}

int meshctl_cmd_pki(int argc, char **argv, FILE *out, FILE *err)
{
    if (argc < 2) {
        pki_usage(err);
        return 2;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
        pki_usage(out);
        return 0;
    }
    if (strcmp(sub, "root") == 0)
        return cmd_root(argc - 1, argv + 1, out, err);
    if (strcmp(sub, "intermediate") == 0)
        return cmd_intermediate(argc - 1, argv + 1, out, err);
    if (strcmp(sub, "cacerts-secret") == 0)
        return cmd_cacerts_secret(argc - 1, argv + 1, out, err);
    if (strcmp(sub, "verify") == 0)
        return cmd_verify(argc - 1, argv + 1, out, err);
    fprintf(err, "meshctl pki: unknown command \"%s\" (see 'meshctl pki --help')\n", sub);
    return 2;
}
