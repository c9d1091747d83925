/*
 * pki: the mesh's certificates. A shared root CA, one intermediate CA per cluster in the
 * layout Istio reads from the istio-system/cacerts Secret (ca-cert.pem, ca-key.pem,
 * root-cert.pem, cert-chain.pem), the checks that prove such a bundle chains to the root,
 * and a pure trust evaluator for the controller.
 *
 * Threading: every function here is synchronous and touches no global state, so the daemon
 * may run any of them on libuv's threadpool (key generation, RSA 4096 above all, takes far
 * too long for the loop thread). Objects are not shared between threads by this module.
 *
 * Errors: functions return 0 or a negative errno-style code (PKI_E*). Where a function takes
 * `char *err, size_t errlen`, it writes one human-readable line there on failure (err may be
 * NULL). OpenSSL's error queue is drained into that line, never left behind.
 *
 * Ownership: X509 and EVP_PKEY objects returned through out-parameters belong to the caller
 * (X509_free / EVP_PKEY_free); inputs are borrowed for the duration of the call only.
 * Private keys are never written anywhere but the buffers and files the caller asks for.
 */
#ifndef MC_PKI_H
#define MC_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define PKI_ENOMEM  (-12) /* out of memory */
#define PKI_EINVAL  (-22) /* a bad argument */
#define PKI_EEXIST  (-17) /* refusing to overwrite an existing file */
#define PKI_EIO     (-5)  /* a file could not be read or written */
#define PKI_EBADMSG (-74) /* input is not the PEM/certificate/key it should be */
#define PKI_ECRYPTO (-71) /* OpenSSL refused an operation (signing, key generation...) */

/* Inputs larger than this are rejected before parsing: a cacerts bundle is a few KB. */
#define PKI_MAX_PEM_BYTES (1024 * 1024)

/* Length of a colon-separated upper-case SHA-256 fingerprint plus its NUL. */
#define PKI_FP_LEN 96
/* Length of an RFC 3339 UTC time ("2035-01-02T03:04:05Z") plus its NUL. */
#define PKI_TIME_LEN 24

/* A borrowed byte range, e.g. one key of a Secret's data after base64 decoding. */
struct pki_bytes {
    const void *data; /* NULL means "absent" */
    size_t len;
};

/* ------------------------------------------------------------------------------------------ */
/* Keys and certificates                                                                      */
/* ------------------------------------------------------------------------------------------ */

enum pki_key_type {
    PKI_KEY_EC_P256 = 0, /* the default: fast, small, accepted by Istio and Envoy */
    PKI_KEY_RSA_4096,    /* what Istio's own Makefile uses; seconds to generate */
};

/* Generates a fresh private key. Slow for RSA 4096: call it off the loop thread. */
int pki_key_generate(enum pki_key_type type, EVP_PKEY **out, char *err, size_t errlen);

/* Which kind of key a parsed key is (RSA of any size reports PKI_KEY_RSA_4096). */
enum pki_key_type pki_key_type_of(const EVP_PKEY *key);

/* What goes into a CA certificate. Strings are borrowed; NULL fields take the defaults. */
struct pki_ca_opts {
    const char *org;      /* O=, default "Istio" */
    const char *cn;       /* CN=, default "Root CA" or "Intermediate CA" */
    const char *locality; /* L=, the cluster name for intermediates; omitted when NULL */
    const char *san_dns;  /* one subjectAltName DNS entry (Istio uses istiod's name); or NULL */
    int days;             /* validity in days from not_before; must be > 0 */
    time_t not_before;    /* 0 means now; backdated one minute against clock skew */
};

/*
 * Self-signs a root CA certificate for key: basicConstraints=critical,CA:TRUE,
 * keyUsage=critical,keyCertSign,cRLSign, subject and authority key identifiers, a random
 * 128-bit serial, SHA-256 signature. *out belongs to the caller.
 */
int pki_root_create(EVP_PKEY *key, const struct pki_ca_opts *opts, X509 **out, char *err,
                    size_t errlen);

/*
 * Signs an intermediate CA certificate for key with the root (cert + key), with the same
 * extensions as the root plus the subjectAltName. The validity is cut to the root's notAfter
 * so the chain never outlives its anchor. *out belongs to the caller.
 */
int pki_intermediate_create(X509 *root_cert, EVP_PKEY *root_key, EVP_PKEY *key,
                            const struct pki_ca_opts *opts, X509 **out, char *err, size_t errlen);

/*
 * Self-signs a TLS server certificate for key (basicConstraints=critical,CA:FALSE,
 * keyUsage=digitalSignature,keyEncipherment, extendedKeyUsage=serverAuth) with the
 * subjectAltName list san_list ("DNS:localhost,IP:127.0.0.1"; required). For a server that
 * was given no certificate, as controller-runtime does for its HTTPS metrics: clients pin it
 * or skip verification. opts->cn defaults to "localhost", opts->org to "Istio" as above.
 */
int pki_serving_self_signed(EVP_PKEY *key, const struct pki_ca_opts *opts, const char *san_list,
                            X509 **out, char *err, size_t errlen);

/* ------------------------------------------------------------------------------------------ */
/* PEM from and to bytes (untrusted input: the parsing path is fuzzed)                        */
/* ------------------------------------------------------------------------------------------ */

/*
 * Parses every CERTIFICATE block in in (other PEM blocks and text around them are skipped).
 * Returns 0 with *out holding at least one certificate (free with
 * sk_X509_pop_free(out, X509_free)), PKI_EBADMSG when there is none or a block is corrupt.
 */
int pki_pem_parse_certs(struct pki_bytes in, STACK_OF(X509) * *out, char *err, size_t errlen);

/* Parses exactly the first certificate of in. *out belongs to the caller. */
int pki_pem_parse_cert(struct pki_bytes in, X509 **out, char *err, size_t errlen);

/* Parses an unencrypted private key (PKCS#8, or traditional RSA/EC). Never prompts. */
int pki_pem_parse_key(struct pki_bytes in, EVP_PKEY **out, char *err, size_t errlen);

/* PEM-encodes into a malloc'd NUL-terminated buffer (*out, caller frees; *len excludes NUL). */
int pki_pem_encode_cert(X509 *cert, char **out, size_t *len);
/* Private keys are written as unencrypted PKCS#8; callers store them 0600. */
int pki_pem_encode_key(EVP_PKEY *key, char **out, size_t *len);

/* ------------------------------------------------------------------------------------------ */
/* Fingerprints and times                                                                     */
/* ------------------------------------------------------------------------------------------ */

/*
 * SHA-256 over the DER certificate as upper-case hex pairs joined by colons: the value part
 * of `openssl x509 -noout -fingerprint -sha256` ("sha256 Fingerprint=<value>").
 */
int pki_fingerprint_sha256(X509 *cert, char out[PKI_FP_LEN]);

/*
 * Normalizes a user-written SHA-256 fingerprint (colons optional, any case, surrounding
 * blanks and an optional "sha256 Fingerprint=" / "SHA256:" prefix ignored) into the canonical
 * colon form above. Returns PKI_EINVAL unless it is exactly 32 bytes of hex.
 */
int pki_fingerprint_normalize(const char *in, char out[PKI_FP_LEN]);

/* Formats an ASN1 time as RFC 3339 UTC and/or time_t. Either out may be NULL. */
int pki_asn1_time_to_rfc3339(const ASN1_TIME *t, char out[PKI_TIME_LEN], time_t *unix_out);

/* ------------------------------------------------------------------------------------------ */
/* Checking a cacerts bundle                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* A bundle as Istio's cacerts Secret holds it, parsed. Members may be NULL when absent. */
struct pki_bundle {
    X509 *ca_cert;          /* ca-cert.pem: the cluster's intermediate */
    EVP_PKEY *ca_key;       /* ca-key.pem: optional for checking */
    STACK_OF(X509) * roots; /* root-cert.pem: may hold more than one root during rotation */
    STACK_OF(X509) * chain; /* cert-chain.pem: the intermediate, then up to the root */
};

/* Frees the members and zeroes the struct; the struct itself is the caller's. */
void pki_bundle_clear(struct pki_bundle *b);

enum pki_problem_kind {
    PKI_PROBLEM_MISSING,       /* a required part is absent or unparseable */
    PKI_PROBLEM_CHAIN,         /* ca-cert does not verify to the anchor root */
    PKI_PROBLEM_CHAIN_FILE,    /* cert-chain.pem is not ca-cert followed by the root */
    PKI_PROBLEM_KEY_MISMATCH,  /* ca-key does not belong to ca-cert */
    PKI_PROBLEM_NOT_CA,        /* basicConstraints CA:TRUE missing */
    PKI_PROBLEM_KEY_USAGE,     /* keyUsage present without keyCertSign */
    PKI_PROBLEM_EXPIRED,       /* the intermediate is past notAfter */
    PKI_PROBLEM_NOT_YET_VALID, /* the intermediate is before notBefore */
    PKI_PROBLEM_ROOT_EXPIRED,  /* the root is outside its validity */
    PKI_PROBLEM_ROOT_DIFFERS,  /* root-cert.pem is not the anchor the caller trusts */
};

#define PKI_MAX_PROBLEMS          16
#define PKI_EXPIRING_SOON_SECONDS (30 * 24 * 3600)

struct pki_problem {
    enum pki_problem_kind kind;
    char text[320]; /* one line, no trailing newline, names the file and the reason */
};

struct pki_check_report {
    struct pki_problem problems[PKI_MAX_PROBLEMS];
    size_t n_problems;
    bool expiring_soon; /* notAfter within PKI_EXPIRING_SOON_SECONDS of now */
    time_t not_after;   /* the intermediate's notAfter, 0 when unknown */
    char not_after_rfc3339[PKI_TIME_LEN];
    char root_fingerprint[PKI_FP_LEN]; /* of the anchor used, "" when none */
};

/* The four parts of a cacerts bundle as bytes; a NULL .data means the part is absent. */
struct pki_bundle_bytes {
    struct pki_bytes ca_cert, ca_key, root_cert, cert_chain;
};

/*
 * Parses in into *out (zeroed first; release it with pki_bundle_clear even on failure) and
 * starts *report afresh, recording one PKI_PROBLEM_MISSING per part that is corrupt or absent
 * but required: ca-cert.pem and root-cert.pem always, ca-key.pem and cert-chain.pem when
 * require_all. Returns 0 (problems live in the report) or PKI_ENOMEM.
 */
int pki_bundle_parse(const struct pki_bundle_bytes *in, bool require_all, struct pki_bundle *out,
                     struct pki_check_report *report);

/*
 * Checks b against a single trust anchor: anchor when given, else the first certificate of
 * b->roots. Appends every problem found to *report (started by pki_bundle_parse, or zeroed by
 * the caller): chain via X509_verify_cert at time now with the anchor as the only trusted
 * certificate, key match, CA flags and key usage of intermediate and anchor, validity of both,
 * and the layout of cert-chain.pem. Fills the report's notAfter, expiring_soon and anchor
 * fingerprint. Returns 0 when the checks ran (report->n_problems says whether they passed)
 * or PKI_ENOMEM when they could not.
 */
int pki_bundle_check(const struct pki_bundle *b, X509 *anchor, time_t now,
                     struct pki_check_report *report);

/* True when the report holds a problem of that kind. */
bool pki_report_has(const struct pki_check_report *report, enum pki_problem_kind kind);

/* ------------------------------------------------------------------------------------------ */
/* Trust evaluation for the controller (pure)                                                 */
/* ------------------------------------------------------------------------------------------ */

/*
 * Input: what the controller read from the cluster, as raw PEM bytes (already base64-decoded
 * from the Secret / taken from the ConfigMap), plus the fingerprints every MeshCluster of the
 * set declares in spec.trust.rootCAFingerprint. Everything is borrowed for the call only.
 */
struct pki_trust_input {
    /* istio-system/cacerts, or all .data NULL when the Secret does not exist. */
    struct pki_bytes ca_cert;    /* ca-cert.pem */
    struct pki_bytes ca_key;     /* ca-key.pem: optional; when given it must match ca-cert */
    struct pki_bytes root_cert;  /* root-cert.pem */
    struct pki_bytes cert_chain; /* cert-chain.pem: optional; checked when given */
    /* root-cert.pem of the istio-ca-root-cert ConfigMap istiod distributes; optional. */
    struct pki_bytes istiod_root_cert;
    /* Fingerprints as users wrote them (any case, colons optional); NULL/"" entries skipped. */
    const char *const *declared_roots;
    size_t n_declared_roots;
    time_t now;
};

/*
 * Reasons (CamelCase, usable as a Kubernetes condition reason), in the order they are decided:
 *   DeclaredRootsDisagree    false  MeshClusters name different roots (or one is not a fingerprint)
 *   NoCacerts                false  no cacerts Secret: istiod uses its own self-signed root
 *   ChainInvalid             false  cacerts is incomplete, corrupt, or does not chain to its root
 *   IntermediateExpired      false  ca-cert.pem is past notAfter (or not yet valid)
 *   RootMismatch             false  the cacerts root is not the declared root
 *   IstiodRootStale          false  istiod distributes another root: it started before cacerts
 *                                   existed; restart istiod, then the workloads
 *   IntermediateExpiringSoon true   all good, but ca-cert.pem expires within 30 days
 *   RootMatches              true   cacerts chains to the declared root and istiod serves it
 *   ChainVerified            true   cacerts is valid but no MeshCluster declares a root yet
 */
#define PKI_REASON_DECLARED_ROOTS_DISAGREE "DeclaredRootsDisagree"
#define PKI_REASON_NO_CACERTS              "NoCacerts"
#define PKI_REASON_CHAIN_INVALID           "ChainInvalid"
#define PKI_REASON_INTERMEDIATE_EXPIRED    "IntermediateExpired"
#define PKI_REASON_ROOT_MISMATCH           "RootMismatch"
#define PKI_REASON_ISTIOD_ROOT_STALE       "IstiodRootStale"
#define PKI_REASON_EXPIRING_SOON           "IntermediateExpiringSoon"
#define PKI_REASON_ROOT_MATCHES            "RootMatches"
#define PKI_REASON_CHAIN_VERIFIED          "ChainVerified"

/* The verdict is plain data (fixed-size strings), so it can cross threads without frees. */
struct pki_trust_verdict {
    bool verified;      /* the TrustVerified condition's status */
    const char *reason; /* one of PKI_REASON_*, a static string */
    char message[768];  /* a sentence or two naming the fingerprints involved */
    char cacerts_root_fingerprint[PKI_FP_LEN];  /* "" when unknown */
    char declared_root_fingerprint[PKI_FP_LEN]; /* canonical form, "" when none declared */
    char istiod_root_fingerprint[PKI_FP_LEN];   /* first cert of istio-ca-root-cert, or "" */
    char not_after[PKI_TIME_LEN];               /* the intermediate's notAfter, or "" */
    time_t not_after_unix;
    bool expiring_soon; /* also set alongside a false verdict when it applies */
};

/*
 * Decides the TrustVerified condition from in alone: no I/O, no clock, no globals. Always
 * fills *out (reason and message included) and returns 0; returns PKI_EINVAL only for NULL
 * arguments and PKI_ENOMEM when OpenSSL cannot allocate.
 */
int pki_trust_evaluate(const struct pki_trust_input *in, struct pki_trust_verdict *out);

/* ------------------------------------------------------------------------------------------ */
/* Files (for meshctl; the daemon never writes keys to disk)                                  */
/* ------------------------------------------------------------------------------------------ */

/*
 * Writes data to path with mode (0600 for keys), created with O_EXCL so the mode holds from
 * the first byte. Without force an existing path is left alone and PKI_EEXIST returned; with
 * force the new file is written beside it and renamed over it.
 */
int pki_file_write(const char *path, const void *data, size_t len, unsigned mode, bool force);

/* Reads a whole file (at most PKI_MAX_PEM_BYTES) into a malloc'd NUL-terminated buffer. */
int pki_file_read(const char *path, char **out, size_t *len);

#endif
