/*
 * meshctl doctor: reads what the guide's debug checklist looks at from every named cluster and
 * prints controller/doctor.h's verdicts, each with the command a human would run and the fix.
 * Exit 0 when nothing FAILs or WARNs, 1 otherwise, 2 on a usage error.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/meshctl/clusters.h"
#include "cmd/meshctl/commands.h"
#include "cmd/meshctl/doctor_dns.h"
#include "controller/doctor.h"
#include "controller/meshcluster.h"

static void doctor_usage(FILE *f)
{
    fprintf(f,
            "Usage: meshctl doctor [--kubeconfig F]... [--context C]... [options]\n\n"
            "Runs the guide's debug checklist, its troubleshooting steps and the multicloud\n"
            "pitfalls against every named cluster, and compares the clusters' roots.\n"
            "Each check prints PASS, WARN or FAIL, the command to see it yourself and the fix.\n\n"
            "Options:\n"
            "  --kubeconfig F          a cluster's kubeconfig (repeat for each cluster)\n"
            "  --context C             a context (repeat; pairs with --kubeconfig)\n"
            "  -o, --output FMT        text (default) or json\n"
            "  --istio-namespace NS    default istio-system\n"
            "  --tailscale-namespace NS  default tailscale\n"
            "  --helm-values-name NAME default meshcluster-istiod-values\n"
            "  --dns-server IP[:PORT]  ask this DNS server for the dns check instead of the\n"
            "                          kube-dns Service's ClusterIP (every named cluster)\n\n"
            "A check that cannot run from here (dns, when the cluster's DNS is not reachable)\n"
            "prints SKIP and changes nothing.\n"
            "Exit status: 0 all PASS (or SKIP), 1 any WARN or FAIL, 2 usage error.\n");
}

struct doctor_opts {
    struct meshctl_targets targets;
    struct mc_doctor_options checks;
    bool json;
    const char *dns_server; /* NULL: each cluster's kube-dns ClusterIP */
};

static int doctor_parse(int argc, char **argv, struct doctor_opts *o, FILE *out, FILE *err)
{
    memset(o, 0, sizeof(*o));
    mc_desired_options_default(&o->checks.desired);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = meshctl_targets_option(&o->targets, argc, argv, &i, "doctor", err);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        bool has_value = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            doctor_usage(out);
            return 0;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && has_value) {
            const char *v = argv[++i];
            if (strcmp(v, "json") && strcmp(v, "text")) {
                fprintf(err, "meshctl doctor: -o must be text or json, not \"%s\"\n", v);
                return 2;
            }
            o->json = !strcmp(v, "json");
        } else if (!strcmp(a, "--istio-namespace") && has_value) {
            o->checks.desired.istio_namespace = argv[++i];
        } else if (!strcmp(a, "--tailscale-namespace") && has_value) {
            o->checks.desired.tailscale_namespace = argv[++i];
        } else if (!strcmp(a, "--helm-values-name") && has_value) {
            o->checks.desired.helm_values_name = argv[++i];
        } else if (!strcmp(a, "--dns-server") && has_value) {
            o->dns_server = argv[++i];
        } else {
            fprintf(err, "meshctl doctor: unknown option or missing value \"%s\" (see --help)\n",
                    a);
            return 2;
        }
    }
    return meshctl_targets_resolve(&o->targets, "doctor", err) < 0 ? 2 : -1;
}

/* Everything read from one cluster; owns the trees the snapshot borrows. */
struct doctor_read {
    cJSON *mcs, *crd, *gw, *ns, *svc_istio, *svc_ts, *secrets, *cms, *drs, *crbs;
    char error[512];
    struct doctor_dns dns;
};

static void doctor_read_free(struct doctor_read *r)
{
    cJSON *all[] = {r->mcs,    r->crd,     r->gw,  r->ns,  r->svc_istio,
                    r->svc_ts, r->secrets, r->cms, r->drs, r->crbs};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        cJSON_Delete(all[i]);
    doctor_dns_free(&r->dns);
}

/* The dns check's lookups: through --dns-server, else the kube-dns Service's ClusterIP. */
static void doctor_read_dns(k8s_sync_client *c, const char *server, struct doctor_read *r)
{
    char err[200] = "", why[256] = "", ip[64] = "";
    cJSON *svc = NULL;
    if (!server) {
        if (meshctl_fetch(c, NULL, "v1", "services", "kube-system", "kube-dns", NULL, &svc, err,
                          sizeof(err)) != 0 ||
            !svc)
            snprintf(why, sizeof(why), "no kube-system/kube-dns Service to ask%s%s",
                     err[0] ? ": " : "", err);
        const cJSON *cip = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(svc, "spec"), "clusterIP");
        if (cJSON_IsString(cip) && strcmp(cip->valuestring, "None") != 0)
            snprintf(ip, sizeof(ip), "%s", cip->valuestring);
        server = ip;
    }
    doctor_dns_ask(server, why, r->mcs, &r->dns);
    cJSON_Delete(svc);
}

/* The reads, in order; the first failure (not a 404) makes the cluster unreadable. */
static void doctor_read(const struct meshctl_target *t, const struct mc_desired_options *d,
                        const char *dns_server, struct doctor_read *r)
{
    memset(r, 0, sizeof(*r));
    k8s_sync_client *c = meshctl_connect(t, r->error, sizeof(r->error));
    if (!c)
        return;
    char *e = r->error;
    size_t el = sizeof(r->error);
    const char *is = d->istio_namespace;
    int rc = meshctl_fetch(c, MC_API_GROUP, "v1alpha1", "meshclusters", NULL, NULL, NULL, &r->mcs,
                           e, el);
    if (rc == 0 && !r->mcs)
        snprintf(e, el, "the MeshCluster CRD is not installed");
    if (rc == 0 && r->mcs)
        rc = meshctl_fetch(c, "apiextensions.k8s.io", "v1", "customresourcedefinitions", NULL,
                           "gateways.networking.istio.io", NULL, &r->crd, e, el);
    if (rc == 0 && r->crd)
        rc = meshctl_fetch(c, "networking.istio.io", "v1beta1", "gateways", is,
                           "cross-network-gateway", NULL, &r->gw, e, el);
    if (rc == 0 && r->mcs)
        rc = meshctl_fetch(c, NULL, "v1", "namespaces", NULL, is, NULL, &r->ns, e, el);
    if (rc == 0 && r->mcs)
        rc = meshctl_fetch(c, NULL, "v1", "services", is, NULL, NULL, &r->svc_istio, e, el);
    if (rc == 0 && r->mcs)
        rc = meshctl_fetch(c, NULL, "v1", "services", d->tailscale_namespace, NULL, NULL,
                           &r->svc_ts, e, el);
    if (rc == 0 && r->mcs)
        rc = meshctl_fetch(c, NULL, "v1", "secrets", is, NULL, NULL, &r->secrets, e, el);
    if (rc == 0 && r->mcs)
        rc = meshctl_fetch(c, NULL, "v1", "configmaps", is, NULL, NULL, &r->cms, e, el);
    if (rc == 0 && r->mcs)
        rc = meshctl_fetch(c, "networking.istio.io", "v1beta1", "destinationrules", NULL, NULL,
                           NULL, &r->drs, e, el);
    /* Optional: a user who may not list bindings still gets every other check. */
    char ignored[256];
    if (rc == 0 && r->mcs &&
        meshctl_fetch(c, "rbac.authorization.k8s.io", "v1", "clusterrolebindings", NULL, NULL, NULL,
                      &r->crbs, ignored, sizeof(ignored)) != 0)
        r->crbs = NULL;
    if (rc == 0 && r->mcs)
        doctor_read_dns(c, dns_server, r);
    /* Services of both namespaces in one array, as the checks look them up by namespace. */
    if (r->svc_ts && r->svc_istio)
        while (r->svc_ts->child)
            cJSON_AddItemToArray(r->svc_istio,
                                 cJSON_DetachItemViaPointer(r->svc_ts, r->svc_ts->child));
    k8s_sync_client_free(c);
}

static void doctor_text(const struct mc_doctor_report *rep, FILE *out)
{
    bool colour = meshctl_use_colour(out);
    static const char *const colours[] = {"\033[32m", "\033[33m", "\033[31m", "\033[36m"};
    size_t last = (size_t)-2;
    for (size_t i = 0; i < rep->nfindings; i++) {
        const struct mc_doctor_finding *f = &rep->findings[i];
        if (f->cluster != last)
            fprintf(out, "%s== %s ==\n", i ? "\n" : "",
                    f->cluster == MC_DOCTOR_MESH ? "across clusters" : rep->clusters[f->cluster]);
        last = f->cluster;
        fprintf(out, "%s%s%s %-20s %s\n", colour ? colours[f->result] : "",
                mc_check_result_name(f->result), colour ? "\033[0m" : "", f->check, f->message);
        if (f->result != MC_CHECK_PASS && f->result != MC_CHECK_SKIP) {
            fprintf(out, "     see: %s\n", f->command);
            fprintf(out, "     fix: %s\n", f->fix);
        }
    }
    size_t count[4] = {0};
    for (size_t i = 0; i < rep->nfindings; i++)
        count[rep->findings[i].result]++;
    fprintf(out, "\n%zu passed, %zu warnings, %zu failed", count[0], count[1], count[2]);
    if (count[MC_CHECK_SKIP])
        fprintf(out, ", %zu skipped", count[MC_CHECK_SKIP]);
    fprintf(out, ".\n");
}

int meshctl_cmd_doctor(int argc, char **argv, FILE *out, FILE *err)
{
    struct doctor_opts o;
    int rc = doctor_parse(argc, argv, &o, out, err);
    if (rc >= 0)
        return rc;
    o.checks.now = time(NULL);
    size_t n = o.targets.n;
    struct doctor_read *reads = calloc(n, sizeof(*reads));
    struct mc_doctor_snapshot *snaps = calloc(n, sizeof(*snaps));
    if (!reads || !snaps) {
        free(reads);
        free(snaps);
        fprintf(err, "meshctl doctor: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        struct doctor_read *r = &reads[i];
        doctor_read(&o.targets.t[i], &o.checks.desired, o.dns_server, r);
        snaps[i] = (struct mc_doctor_snapshot){
            .source = o.targets.t[i].label,
            .error = r->error[0] ? r->error : NULL,
            .meshclusters = r->mcs,
            .gateway_crd = r->crd,
            .gateway = r->gw,
            .istio_namespace = r->ns,
            .services = r->svc_istio,
            .secrets = r->secrets,
            .configmaps = r->cms,
            .destination_rules = r->drs,
            .cluster_role_bindings = r->crbs,
            .dns_skip = r->dns.skip[0] ? r->dns.skip : NULL,
            .lookups = r->dns.lookups,
            .nlookups = r->dns.nlookups,
        };
    }
    struct mc_doctor_report rep;
    rc = mc_doctor_run(snaps, n, &o.checks, &rep);
    if (rc == 0) {
        rc = rep.worst == MC_CHECK_PASS ? 0 : 1;
        if (!o.json)
            doctor_text(&rep, out);
        else if (meshctl_print_json(mc_doctor_to_json(&rep), "doctor", out, err) < 0)
            rc = 1;
        mc_doctor_report_free(&rep);
    } else {
        fprintf(err, "meshctl doctor: out of memory\n");
        rc = 1;
    }
    for (size_t i = 0; i < n; i++)
        doctor_read_free(&reads[i]);
    free(reads);
    free(snaps);
    return rc;
}
