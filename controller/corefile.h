/*
 * Cluster DNS forwarding of the tailnet's domain (the guide's Step 3) as an edit of CoreDNS's
 * Corefile that keeps everything outside our block byte for byte. The Corefile belongs to the
 * distribution (kubeadm, an addon manager, a cloud's DNS add-on): we own only the lines between
 * our two marker comments, holding one server block
 *
 *     <zone>:53 {
 *         errors
 *         cache 30
 *         forward . <nameserver>
 *     }
 *
 * Pure: text in, text out, so the reconciler, `meshctl render` and a fuzz target share it. The
 * Corefile arrives from the API server, so it is treated as hostile: anything this editor
 * cannot read safely (unbalanced braces, an open quote, a marker without its pair) is left
 * untouched and reported, never "repaired".
 */
#ifndef MC_COREFILE_H
#define MC_COREFILE_H

#include <stddef.h>

#define MC_COREFILE_BEGIN "# BEGIN meshcluster tailnet DNS: managed by meshcluster-controller"
#define MC_COREFILE_END   "# END meshcluster tailnet DNS"
/* A Corefile is a ConfigMap value: at most 1 MiB. Longer input is refused as malformed. */
#define MC_COREFILE_MAX (1024 * 1024)

enum mc_corefile_outcome {
    MC_COREFILE_UNCHANGED, /* the text already is what we want */
    MC_COREFILE_CHANGED,   /* *out holds the new text */
    MC_COREFILE_CONFLICT,  /* a server block outside our markers already serves zone on :53 */
    MC_COREFILE_MALFORMED, /* cannot be read safely; left alone */
    MC_COREFILE_BAD_INPUT, /* zone or nameserver not acceptable (nameserver: an IP literal) */
    MC_COREFILE_NOMEM,
};

/* What to keep in the Corefile: zone NULL removes our block. */
struct mc_corefile_want {
    const char *zone;       /* the tailnet's DNS suffix, e.g. acme.ts.net */
    const char *nameserver; /* IPv4 or IPv6 literal from the DNSConfig's status */
};

/*
 * Edits text (len bytes, need not be NUL-terminated) toward want. On MC_COREFILE_CHANGED
 * *out is the new text (caller frees), else NULL. why (may be NULL) gets a sentence for the
 * CONFLICT, MALFORMED and BAD_INPUT outcomes.
 */
enum mc_corefile_outcome mc_corefile_edit(const char *text, size_t len,
                                          const struct mc_corefile_want *want, char **out,
                                          char *why, size_t whylen);

#endif
