/* The reconciler's API requests: reading, applying (adoption, create-only fields, conflicts,
 * immutable loadBalancerClass) and deleting objects; see reconcile_ops.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/reconcile_ops.h"
#include "controller/conflict.h"

/* ---- requests ----------------------------------------------------------------------------- */

static void on_op_done(k8s_request *req, k8s_response *res, void *data);

/* The condition a desired object's trouble is reported under, by its role. */
static const enum mc_cond_type role_condition[MC_ROLE_COUNT] = {
    [MC_ROLE_NAMESPACE_LABEL] = MC_CT_GATEWAY_READY,
    [MC_ROLE_GATEWAY_SERVICE] = MC_CT_GATEWAY_READY,
    [MC_ROLE_CROSS_NETWORK_GATEWAY] = MC_CT_GATEWAY_READY,
    [MC_ROLE_EGRESS_API] = MC_CT_EGRESS_READY,
    [MC_ROLE_EGRESS_GATEWAY] = MC_CT_EGRESS_READY,
    [MC_ROLE_GATEWAY_ALIAS] = MC_CT_GATEWAY_READY,
    [MC_ROLE_REMOTE_SECRET] = MC_CT_REMOTE_SECRET,
    [MC_ROLE_MESH_NETWORKS] = MC_CT_MESH_NETWORKS,
    [MC_ROLE_HELM_VALUES] = MC_CT_MESH_NETWORKS,
};

/* The condition slot an op's trouble is reported under (NULL: out of memory). A desired
 * object's role says which; an object that is not desired (a deletion, a withdrawal, a status
 * write) goes by its kind. */
static struct note_slot *note_slot(struct pass *p, const struct op *op)
{
    enum mc_cond_type t = MC_CT_GATEWAY_READY;
    if (op->idx >= 0)
        t = role_condition[p->d.objects[op->idx].role];
    else if (strcmp(op->ki->kind, "ConfigMap") == 0)
        t = MC_CT_MESH_NETWORKS;
    else if (strcmp(op->ki->kind, "Secret") == 0)
        t = MC_CT_REMOTE_SECRET;
    if (t == MC_CT_MESH_NETWORKS)
        return &p->meshnet_note;
    struct note *n = mc__note_for(p, op->cluster);
    if (!n)
        return NULL;
    return t == MC_CT_REMOTE_SECRET  ? &n->secret
           : t == MC_CT_EGRESS_READY ? &n->egress
                                     : &n->gateway;
}

/* Keeps the first trouble of a pass per condition: "<Reason>: <Kind> <ns>/<name>: <detail>". */
void mc__note(struct pass *p, const struct op *op, enum mc_reason reason, const char *detail)
{
    struct note_slot *slot = note_slot(p, op);
    if (!slot || slot->reason != MC_REASON_NONE)
        return;
    if (snprintf(slot->text, NOTE_LEN, "%s: %s %s/%s: %s", mc_reason_name(reason), op->ki->kind,
                 op->ns, op->name, detail ? detail : "") < 0)
        slot->text[0] = 0;
    slot->reason = reason;
}

struct op *mc__op_new(struct pass *p, const cJSON *obj, const char *kind, long idx)
{
    struct op *op = calloc(1, sizeof(*op));
    if (!op)
        return NULL;
    op->p = p;
    op->idx = idx;
    op->inf = -1;
    op->ki = mc__kind_lookup(kind ? kind : jstr(obj, "kind"));
    const cJSON *md = jpath(obj, "metadata", NULL);
    snprintf(op->ns, sizeof(op->ns), "%s", jstr(md, "namespace") ? jstr(md, "namespace") : "");
    snprintf(op->name, sizeof(op->name), "%s", jstr(md, "name") ? jstr(md, "name") : "");
    const char *cl = idx >= 0 ? p->d.objects[idx].cluster : label_of(obj, MC_LABEL_CLUSTER);
    snprintf(op->cluster, sizeof(op->cluster), "%s", cl ? cl : "");
    if (!op->ki) {
        free(op);
        return NULL;
    }
    return op;
}

/* The end of a request: the op is freed and its pass told. */
static void op_finish(struct op *op)
{
    struct pass *p = op->p;
    free(op);
    mc__pass_op_done(p);
}

static k8s_resource_ref op_ref(const struct op *op, const char *subresource)
{
    k8s_resource_ref ref = {
        .group = op->ki->group,
        .version = op->ki->version,
        .resource = op->ki->resource,
        .namespace = op->ns[0] ? op->ns : NULL,
        .name = op->name,
        .subresource = subresource,
    };
    return ref;
}

/* Starts a request for op; on failure to start, accounts it as a failed op. */
static void op_send(struct op *op, k8s_request_opts *ro)
{
    ro->on_done = on_op_done;
    ro->data = op;
    if (k8s_request_start(op->p->r->client, ro, NULL) != 0) {
        op->p->errors++;
        if (op->stage == OP_STATUS)
            mc__status_write_failed(op->p, op->cluster);
        op_finish(op);
    }
}

static void op_get(struct op *op)
{
    op->stage = OP_GET;
    k8s_request_opts ro = {.verb = K8S_VERB_GET, .ref = op_ref(op, NULL)};
    op_send(op, &ro);
}

static void apply_as(struct op *op, enum op_stage stage, const cJSON *body, bool force,
                     const char *subresource)
{
    op->stage = stage;
    op->p->writes++;
    k8s_request_opts ro = {
        .verb = K8S_VERB_PATCH,
        .ref = op_ref(op, subresource),
        .body = body,
        .patch_type = K8S_PATCH_APPLY,
        .field_manager = MC_FIELD_MANAGER,
        .force = force,
    };
    op_send(op, &ro);
}

void mc__op_apply(struct op *op, const cJSON *body, bool force, const char *subresource)
{
    apply_as(op, subresource ? OP_STATUS : OP_APPLY, body, force, subresource);
}

void mc__op_withdraw(struct op *op, const cJSON *obj)
{
    const char *api = jstr(obj, "apiVersion");
    cJSON *body = cJSON_CreateObject();
    cJSON *md = cJSON_AddObjectToObject(body, "metadata"); /* NULL when body is */
    if (!md || !cJSON_AddStringToObject(body, "apiVersion", api ? api : "v1") ||
        !cJSON_AddStringToObject(body, "kind", op->ki->kind) ||
        !cJSON_AddStringToObject(md, "name", op->name) ||
        (op->ns[0] && !cJSON_AddStringToObject(md, "namespace", op->ns))) {
        cJSON_Delete(body);
        op->p->errors++;
        op_finish(op);
        return;
    }
    apply_as(op, OP_WITHDRAW, body, false, NULL);
    cJSON_Delete(body); /* serialized when the request started */
}

void mc__op_delete(struct op *op, const char *uid, enum op_stage stage)
{
    op->stage = stage;
    op->p->writes++;
    k8s_request_opts ro = {
        .verb = K8S_VERB_DELETE,
        .ref = op_ref(op, NULL),
        .precondition_uid = uid,
        .propagation_policy = "Background",
    };
    op_send(op, &ro);
}

/*
 * loadBalancerClass cannot change once a LoadBalancer Service has one (or was created
 * without). Returns true when op must not apply to existing.
 */
static bool class_blocked(struct op *op, const cJSON *existing)
{
    cJSON *body = op->idx >= 0 ? mc__desired_body(op->p, (size_t)op->idx) : NULL;
    const char *want_class = jstr(jpath(body, "spec", NULL), "loadBalancerClass");
    const cJSON *spec = jpath(existing, "spec", NULL);
    const char *type = jstr(spec, "type");
    const char *have_class = jstr(spec, "loadBalancerClass");
    char want[64];
    snprintf(want, sizeof(want), "%s", want_class ? want_class : "");
    cJSON_Delete(body);
    if (!want[0] || !type || strcmp(type, "LoadBalancer") != 0)
        return false;
    if (have_class && strcmp(have_class, want) == 0)
        return false;
    char msg[NOTE_LEN];
    snprintf(msg, sizeof(msg), "has loadBalancerClass %s, want %s",
             have_class ? have_class : "(none)", want);
    if (!op->p->r->allow_replace)
        strncat(msg, "; delete it or run with --allow-gateway-replacement",
                sizeof(msg) - strlen(msg) - 1);
    mc__note(op->p, op, MC_REASON_LB_CLASS_IMMUTABLE, msg);
    if (op->p->r->allow_replace) {
        mc__event(op->p->r, op->cluster, "Warning", "ReplacingGateway", msg);
        mc__op_delete(op, jstr(jpath(existing, "metadata", NULL), "uid"), OP_REPLACE_DELETE);
    } else {
        mc__event(op->p->r, op->cluster, "Warning", "LoadBalancerClassImmutable", msg);
        op->p->errors++;
        op_finish(op);
    }
    return true;
}

/*
 * Adoption takes only the fields we need. An object another tool manages (the istio/gateway
 * chart's Service, labelled app.kubernetes.io/managed-by=Helm by Helm) keeps that label: our
 * apply leaves it out, and the object is found by our cluster label instead (issue 14.4).
 */
static void strip_managed_by(cJSON *body)
{
    cJSON *labels = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(body, "metadata"), "labels");
    cJSON_DeleteItemFromObjectCaseSensitive(labels, MC_LABEL_MANAGED_BY);
}

/* Sends desired object op->idx: the whole body when it is new, without create-only fields
 * when it exists. */
static void send_apply(struct op *op)
{
    const struct mc_desired_object *o = &op->p->d.objects[op->idx];
    cJSON *body = mc__desired_body(op->p, (size_t)op->idx);
    if (!body) {
        op->p->errors++;
        op_finish(op);
        return;
    }
    if (op->existed)
        mc_desired_strip_create_only(body, o);
    if (op->foreign)
        strip_managed_by(body);
    /* Fields of objects that are not ours (the namespace's network label) are taken; the
     * istio ConfigMap's meshNetworks key only on opt-in: Helm renders it in the istiod
     * chart and Argo CD self-heals it, and taking it silently fought both (issue 14.5). */
    bool key = (o->flags & MC_DESIRED_KEY) != 0;
    bool force =
        op->forced || ((o->flags & MC_DESIRED_MUST_EXIST) && (!key || op->p->r->force_meshnet));
    mc__op_apply(op, body, force, NULL);
    cJSON_Delete(body); /* serialized when the request started */
}

/* ---- colliding list entries ---------------------------------------------------------------- */

/*
 * Service ports are a list-map keyed by port and protocol, and names must be unique. A foreign
 * writer that renumbers one of our entries (a JSON patch on /spec/ports/1/port) or adds one
 * with one of our names leaves an entry under another key with our name: server-side apply
 * keeps it (it is the other manager's) and re-adds ours, and the server refuses the result
 * (422 Duplicate value) on every pass. Both cannot exist, so such an entry is removed, and only
 * such an entry: a foreign port that collides with none of ours is another manager's field
 * and stays. The removal is reported (a Warning Event naming the manager), never silent.
 */
static const char *port_protocol(const cJSON *port)
{
    const char *proto = jstr(port, "protocol");
    return proto ? proto : "TCP";
}

static bool port_key_equal(const cJSON *a, const cJSON *b)
{
    const cJSON *pa = cJSON_GetObjectItemCaseSensitive(a, "port");
    const cJSON *pb = cJSON_GetObjectItemCaseSensitive(b, "port");
    return cJSON_IsNumber(pa) && cJSON_IsNumber(pb) && pa->valuedouble == pb->valuedouble &&
           strcmp(port_protocol(a), port_protocol(b)) == 0;
}

/* The entry of want_ports that have (a live entry under another key) collides with by name. */
static const cJSON *collides_with(const cJSON *want_ports, const cJSON *have)
{
    const char *name = jstr(have, "name");
    const cJSON *w;
    cJSON_ArrayForEach(w, want_ports)
    {
        if (port_key_equal(w, have))
            return NULL; /* ours, by key */
    }
    cJSON_ArrayForEach(w, want_ports)
    {
        const char *wn = jstr(w, "name");
        if (name && wn && strcmp(name, wn) == 0)
            return w;
    }
    return NULL;
}

/* The manager (not ours) whose managedFields hold the ports entry of key port/protocol, or
 * NULL when existing carries no managedFields or nobody else owns it. Borrowed. */
static const char *port_owner(const cJSON *existing, const cJSON *port)
{
    const cJSON *mf;
    cJSON_ArrayForEach(mf, jpath(existing, "metadata", "managedFields"))
    {
        const char *manager = jstr(mf, "manager");
        if (!manager || strcmp(manager, MC_FIELD_MANAGER) == 0)
            continue;
        const cJSON *k;
        cJSON_ArrayForEach(k, jpath(jpath(mf, "fieldsV1", "f:spec"), "f:ports", NULL))
        {
            if (!k->string || strncmp(k->string, "k:", 2) != 0)
                continue;
            cJSON *key = cJSON_Parse(k->string + 2); /* k:{"port":25443,"protocol":"TCP"} */
            bool match = key && port_key_equal(key, port);
            cJSON_Delete(key);
            if (match)
                return manager;
        }
    }
    return NULL;
}

/*
 * A JSON patch removing the entries of existing's spec.ports that collide with want's, each
 * guarded by a test of its whole value (a concurrent change fails the patch instead of
 * removing something else), last index first. NULL when there is none (or out of memory).
 * Describes what it removes, with the managers, in what.
 */
static cJSON *collisions_patch(const cJSON *want, const cJSON *existing, char *what, size_t len)
{
    const cJSON *want_ports = jpath(jpath(want, "spec", NULL), "ports", NULL);
    const cJSON *have_ports = jpath(jpath(existing, "spec", NULL), "ports", NULL);
    int n = cJSON_GetArraySize(have_ports);
    cJSON *patch = NULL;
    what[0] = '\0';
    for (int i = n - 1; i >= 0; i--) {
        const cJSON *h = cJSON_GetArrayItem(have_ports, i);
        const cJSON *w = collides_with(want_ports, h);
        if (!w)
            continue;
        char path[32];
        snprintf(path, sizeof(path), "/spec/ports/%d", i);
        cJSON *test = cJSON_CreateObject(), *rm = cJSON_CreateObject();
        if (!patch)
            patch = cJSON_CreateArray();
        if (!patch || !test || !rm || !cJSON_AddStringToObject(test, "op", "test") ||
            !cJSON_AddStringToObject(test, "path", path) ||
            !cJSON_AddItemToObject(test, "value", cJSON_Duplicate(h, 1)) ||
            !cJSON_AddStringToObject(rm, "op", "remove") ||
            !cJSON_AddStringToObject(rm, "path", path)) {
            cJSON_Delete(test);
            cJSON_Delete(rm);
            cJSON_Delete(patch);
            return NULL;
        }
        cJSON_AddItemToArray(patch, test);
        cJSON_AddItemToArray(patch, rm);
        const cJSON *hp = cJSON_GetObjectItemCaseSensitive(h, "port");
        const cJSON *wp = cJSON_GetObjectItemCaseSensitive(w, "port");
        const char *owner = port_owner(existing, h);
        size_t used = strlen(what);
        snprintf(what + used, len - used,
                 "%sremoved port %s %d/%s set by %s: it takes the name of ours (%d/%s)",
                 used ? "; " : "", jstr(h, "name"), hp ? hp->valueint : 0, port_protocol(h),
                 owner ? owner : "another writer", wp ? wp->valueint : 0, port_protocol(w));
    }
    return patch;
}

/*
 * Removes what collides with desired object op->idx in existing before applying: true when a
 * request went out for it (a read for the managedFields that name the other writer, which our
 * caches drop, or the removal itself; on_op_done applies after it).
 */
static bool heal_collisions(struct op *op, const cJSON *existing)
{
    if (!existing || strcmp(op->ki->kind, "Service") != 0)
        return false;
    cJSON *want = mc__desired_body(op->p, (size_t)op->idx);
    char what[NOTE_LEN];
    cJSON *patch = want ? collisions_patch(want, existing, what, sizeof(what)) : NULL;
    cJSON_Delete(want);
    if (!patch)
        return false;
    if (!jpath(existing, "metadata", "managedFields") && !op->reread) {
        cJSON_Delete(patch);
        op->reread = true;
        op_get(op);
        return true;
    }
    k8s_log_warn(op->p->r->log, "removing colliding entries", "kind", op->ki->kind, "namespace",
                 op->ns, "name", op->name, "meshcluster", op->cluster, "detail", what);
    char text[NOTE_LEN + 300];
    snprintf(text, sizeof(text), "%s %s/%s: %s", op->ki->kind, op->ns, op->name, what);
    mc__event(op->p->r, op->cluster, "Warning", "GatewayPortCollision", text);
    op->stage = OP_HEAL;
    op->p->writes++;
    k8s_request_opts ro = {
        .verb = K8S_VERB_PATCH,
        .ref = op_ref(op, NULL),
        .body = patch,
        .patch_type = K8S_PATCH_JSON,
        .field_manager = MC_FIELD_MANAGER,
    };
    op_send(op, &ro);
    cJSON_Delete(patch); /* serialized when the request started */
    return true;
}

/* Applies desired object op->idx over existing (NULL: it does not exist). */
static void apply_desired(struct op *op, const cJSON *existing)
{
    const char *managed_by = existing ? label_of(existing, MC_LABEL_MANAGED_BY) : NULL;
    op->existed = existing != NULL;
    op->ours = managed_by && strcmp(managed_by, MC_FIELD_MANAGER) == 0;
    op->foreign = existing && !mc__managed_by_us(existing);
    if (op->idx >= 0 && heal_collisions(op, existing))
        return;
    send_apply(op);
}

/* An apply conflict names the managed-by label among its fields. */
static bool conflicts_on_managed_by(const k8s_error *e)
{
    for (size_t i = 0; i < e->ncauses; i++) {
        const char *f = e->causes[i].field;
        if (f && strcmp(f, ".metadata.labels." MC_LABEL_MANAGED_BY) == 0)
            return true;
    }
    return false;
}

/* "field .x is owned by \"m\"; ..." from an apply conflict's typed causes, into out. */
static void describe_conflicts(const k8s_error *e, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < e->ncauses && used + 1 < len; i++) {
        const k8s_status_cause *c = &e->causes[i];
        if (!c->reason || strcmp(c->reason, K8S_CAUSE_FIELD_MANAGER_CONFLICT) != 0)
            continue;
        int n = snprintf(out + used, len - used, "%sfield %s is owned by \"%s\"", used ? "; " : "",
                         c->field ? c->field : "?", c->manager ? c->manager : "another manager");
        if (n < 0)
            break;
        used += (size_t)n < len - used ? (size_t)n : len - used - 1;
    }
    if (!out[0])
        snprintf(out, len, "%s", e->message ? e->message : "apply conflict");
}

/*
 * Reports an apply conflict with another manager's fields, once: a condition (through the
 * pass's note, repeated by later passes from the memo) and one Warning Event. The apply is not
 * repeated while the live object keeps its version (see mc__reconcile_object).
 */
static void report_conflict(struct op *op, const k8s_error *e)
{
    struct pass *p = op->p;
    const struct mc_desired_object *o = op->idx >= 0 ? &p->d.objects[op->idx] : NULL;
    bool meshnet = o && (o->flags & MC_DESIRED_KEY);
    enum mc_reason reason = meshnet ? MC_REASON_MESH_NETWORKS_CONFLICT : MC_REASON_APPLY_CONFLICT;
    char fields[NOTE_LEN / 2], detail[NOTE_LEN];
    describe_conflicts(e, fields, sizeof(fields));
    if (meshnet)
        snprintf(detail, sizeof(detail),
                 "%s: not taken; feed the istiod release the meshNetworks values "
                 "(--mesh-networks helm-values) or run with --force-mesh-networks",
                 fields);
    else
        snprintf(detail, sizeof(detail), "%s: not taken", fields);
    mc__note(p, op, reason, detail);
    struct memo_conflict *mc = o ? p->memo[op->idx].conflict : NULL;
    /* The same conflict found again after the object moved (another writer touched some other
     * field, a status update): reported already, so no second Event. */
    bool known = mc && mc->reason == reason && strcmp(mc->detail, detail) == 0;
    char text[NOTE_LEN + 400];
    snprintf(text, sizeof(text), "%s %s/%s: %s", op->ki->kind, op->ns, op->name, detail);
    if (!known)
        mc__event(p->r, op->cluster, "Warning", mc_reason_name(reason), text);
    if (!o)
        return;
    const char *rv;
    mc__cached_desired(p, (size_t)op->idx, &rv);
    if (!mc)
        mc = p->memo[op->idx].conflict = calloc(1, sizeof(*mc));
    if (!mc)
        return; /* out of memory: the next pass tries the apply again */
    snprintf(mc->rv, sizeof(mc->rv), "%s", rv && strlen(rv) < MATCHED_RV_LEN ? rv : "");
    mc->reason = reason;
    snprintf(mc->detail, sizeof(mc->detail), "%s", detail);
}

/* An apply went through: logged, an Event, and the memo remembers the write so the pass
 * waits for its watch event instead of comparing the old version again. */
static void on_applied(struct op *op, const k8s_response *res)
{
    struct pass *p = op->p;
    mc_reconciler *r = p->r;
    char text[512];
    if (res->http_status == 200)
        op->existed = true; /* applied without a read: the object was already there */
    snprintf(text, sizeof(text), "%s %s%s%s", op->ki->kind, op->ns, op->ns[0] ? "/" : "", op->name);
    k8s_log_info(r->log, op->existed ? "applied" : "created", "kind", op->ki->kind, "namespace",
                 op->ns, "name", op->name, "meshcluster", op->cluster);
    mc__event(r, op->cluster, "Normal", op->existed ? "Applied" : "Created", text);
    if (op->idx >= 0) {
        struct desired_memo *m = &p->memo[op->idx];
        free(m->conflict);
        m->conflict = NULL;
        m->wrote = m->inf >= 0; /* a write to an uncached kind has no event to wait for */
        memcpy(m->wrote_over, op->base_rv, sizeof(op->base_rv));
        m->wrote_pass = r->passes;
        memcpy(m->healed_at, op->heal_rv, sizeof(op->heal_rv));
    }
    op_finish(op);
}

static void on_deleted(struct op *op)
{
    mc_reconciler *r = op->p->r;
    char text[512];
    snprintf(text, sizeof(text), "%s %s/%s", op->ki->kind, op->ns, op->name);
    k8s_log_info(r->log, "deleted", "kind", op->ki->kind, "namespace", op->ns, "name", op->name,
                 "meshcluster", op->cluster);
    mc__event(r, op->cluster, "Normal", "Deleted", text);
    op_finish(op);
}

/* The colliding entries are gone: apply again, remembering the removal's version, which is
 * ours too (the cache may show it before the apply's). */
static void on_healed(struct op *op, const k8s_response *res)
{
    const char *hrv = jstr(jpath(res->body, "metadata", NULL), "resourceVersion");
    if (hrv && strlen(hrv) < sizeof(op->heal_rv))
        strcpy(op->heal_rv, hrv);
    send_apply(op);
}

/* The answers each stage expects, handled (the op goes on or is finished): true. False for
 * a failure, which the caller handles. */
static bool on_expected(struct op *op, const k8s_response *res)
{
    k8s_err code = res->err.code;
    switch (op->stage) {
    case OP_GET:
        if (code == K8S_ERR_NOT_FOUND)
            apply_desired(op, NULL);
        else if (code != K8S_OK || !res->body)
            return false;
        else if (terminating(res->body))
            op_finish(op); /* wait for it to go; its deletion event brings us back */
        else if (!class_blocked(op, res->body))
            apply_desired(op, res->body);
        return true;
    case OP_REPLACE_DELETE:
        if (code != K8S_OK && code != K8S_ERR_NOT_FOUND)
            return false;
        apply_desired(op, NULL);
        return true;
    case OP_APPLY:
        if (code != K8S_OK)
            return false;
        on_applied(op, res);
        return true;
    case OP_WITHDRAW:
        if (code != K8S_OK && code != K8S_ERR_NOT_FOUND)
            return false;
        k8s_log_info(op->p->r->log, "withdrew our fields", "kind", op->ki->kind, "namespace",
                     op->ns, "name", op->name);
        op_finish(op);
        return true;
    case OP_DELETE:
        if (code != K8S_OK && code != K8S_ERR_NOT_FOUND && code != K8S_ERR_CONFLICT)
            return false;
        /* Gone or going (a 409 is our uid precondition: that object is gone too). */
        mc__deletion_remember(op->p->r, op->inf, op->ns, op->name, op->uid);
        on_deleted(op);
        return true;
    case OP_HEAL:
        if (code != K8S_OK)
            return false;
        on_healed(op, res);
        return true;
    case OP_STATUS:
        if (code != K8S_OK && code != K8S_ERR_NOT_FOUND)
            return false;
        op_finish(op);
        return true;
    }
    return false;
}

/* A failed apply of a desired object that another try can mend; true when it was sent again
 * (or a read went first). */
static bool apply_retried(struct op *op, const k8s_error *e, const char *msg)
{
    struct pass *p = op->p;
    mc_reconciler *r = p->r;
    if (op->stage != OP_APPLY || op->idx < 0)
        return false;
    bool conflict = e->code == K8S_ERR_CONFLICT;
    /* Applied as a create without a read, but it exists and another manager owns a field:
     * read it, then apply without the create-only fields (externalName stays the operator's). */
    if (conflict && !op->existed && !op->forced &&
        (p->d.objects[op->idx].flags & MC_DESIRED_CREATE_ONLY)) {
        k8s_log_debug(r->log, "exists with fields of another manager: reading it", "kind",
                      op->ki->kind, "namespace", op->ns, "name", op->name);
        op_get(op);
        return true;
    }
    /*
     * An apply conflict only with fields a person set through kubectl (a hand-made object
     * from the guide being adopted, or a kubectl edit/patch/label of one of ours) is drift:
     * take the fields over. A conflict with any other manager (another controller) is
     * reported, never forced.
     */
    if (conflict && !op->forced && mc_conflicts_only_with_kubectl(e)) {
        k8s_log_info(r->log, "taking over fields set by hand", "kind", op->ki->kind, "namespace",
                     op->ns, "name", op->name, "meshcluster", op->cluster, "message", msg);
        mc__event(r, op->cluster, "Normal", op->ours ? "DriftReverted" : "Adopted", msg);
        op->forced = true;
        send_apply(op);
        return true;
    }
    /* Created as new, but another tool manages it and owns its managed-by label: read it and
     * adopt it without that label (strip_managed_by). Invalid as merged: maybe a colliding
     * entry our cache did not show yet: read it once and apply again, removing what collides
     * (heal_collisions). */
    if ((conflict && !op->existed && !op->reread && conflicts_on_managed_by(e)) ||
        (e->code == K8S_ERR_INVALID && !op->reread && strcmp(op->ki->kind, "Service") == 0)) {
        op->reread = true;
        op_get(op);
        return true;
    }
    return false;
}

/* A request failed for good this pass. A field owned by another manager is reported, never
 * forced. */
static void op_failed(struct op *op, const k8s_error *e, const char *msg)
{
    struct pass *p = op->p;
    mc_reconciler *r = p->r;
    p->errors++;
    if (e->code == K8S_ERR_CONFLICT && op->stage == OP_APPLY) {
        report_conflict(op, e);
    } else {
        mc__note(p, op, MC_REASON_APPLY_FAILED, msg);
        if (op->stage != OP_STATUS)
            mc__event(r, op->cluster, "Warning", "Failed", msg);
        else
            mc__status_write_failed(p, op->cluster);
    }
    k8s_log_warn(r->log, "request failed", "kind", op->ki->kind, "namespace", op->ns, "name",
                 op->name, "meshcluster", op->cluster, "error", k8s_err_name(e->code), "message",
                 msg);
    op_finish(op);
}

static void on_op_done(k8s_request *req, k8s_response *res, void *data)
{
    (void)req;
    struct op *op = data;
    const char *msg = res->err.message ? res->err.message : k8s_err_name(res->err.code);
    if (on_expected(op, res) || apply_retried(op, &res->err, msg))
        return;
    op_failed(op, &res->err, msg);
}

/* Records that the live object at version rv matches desired object idx. */
static void note_match(struct pass *p, long idx, const char *rv)
{
    if (rv && strlen(rv) < MATCHED_RV_LEN)
        strcpy(p->memo[idx].matched, rv);
}

/* True while the cache has not caught up with our last apply of idx (see desired_memo). */
static bool awaiting_own_write(struct pass *p, long idx, const char *rv)
{
    struct desired_memo *m = &p->memo[idx];
    if (m->healed_at[0] && rv && strcmp(m->healed_at, rv) == 0)
        return true;
    if (!m->wrote)
        return false;
    if (strcmp(rv ? rv : "", m->wrote_over) == 0 &&
        p->r->passes - m->wrote_pass <= OWN_WRITE_WAIT_PASSES)
        return true;
    m->wrote = false; /* the cache moved on, or we waited long enough: decide as usual */
    return false;
}

/*
 * A conflict reported for this object still holds: the live object is at the version that
 * conflicted and the desired state did not change (the memo lives as long as it does). The
 * report is repeated for this pass's conditions, the apply is not: it would fail the same way
 * and, with its Event, write on every pass. A changed object gets the apply again.
 */
static bool conflict_holds(struct pass *p, long idx, const char *rv)
{
    struct memo_conflict *mc = p->memo[idx].conflict;
    if (!mc)
        return false;
    if (!rv || !mc->rv[0] || strcmp(mc->rv, rv) != 0) {
        /* The object moved: apply again (the other writer may have let go). The report is
         * kept, so that the same conflict found again is not announced twice; a successful
         * apply clears it. */
        mc->rv[0] = '\0';
        return false;
    }
    cJSON *body = mc__desired_body(p, (size_t)idx);
    struct op *op = body ? mc__op_new(p, body, NULL, idx) : NULL;
    cJSON_Delete(body);
    if (op)
        mc__note(p, op, mc->reason, mc->detail);
    free(op);
    return true; /* not an error to retry: a watch event on the object brings us back */
}

/* Whether desired object idx needs no request this pass, whatever its body. */
static bool nothing_to_do(struct pass *p, long idx, const cJSON *have, const char *rv)
{
    /* Neither side changed since they last matched. */
    if (rv && strcmp(p->memo[idx].matched, rv) == 0)
        return true;
    if (awaiting_own_write(p, idx, rv))
        return true; /* our own writes are not in the cache yet: their events bring us back */
    if (conflict_holds(p, idx, rv))
        return true;
    if (p->d.objects[idx].flags & (MC_DESIRED_MUST_EXIST | MC_DESIRED_LABELS))
        return !have; /* not ours: only our fields, and only while the object exists */
    return have && terminating(have);
}

/* Whether the cached object already holds body: compared without its create-only fields (the
 * Tailscale operator owns an egress Service's externalName once it exists). */
static bool already_there(cJSON *body, const struct mc_desired_object *o, const cJSON *have)
{
    mc_desired_strip_create_only(body, o);
    if (!mc__managed_by_us(have))
        strip_managed_by(body);
    return mc_subset_body(body, have);
}

/* Sends op for its desired object: applied at once when it exists, else see below. */
static void send_object(struct op *op, const cJSON *have, bool lb_class)
{
    struct pass *p = op->p;
    p->pending++;
    if (p->d.objects[op->idx].flags & (MC_DESIRED_MUST_EXIST | MC_DESIRED_LABELS)) {
        op->existed = true;
        send_apply(op);
    } else if (!have) {
        /*
         * Not in our label-selected cache: maybe new, maybe hand-made (adopt in place). Read it
         * first only for an immutable loadBalancerClass, where what exists decides whether to
         * send at all. Anything else is applied at once as a create: the answer (201 or 200)
         * says whether it existed, and a hand-made object's fields conflict, so nothing of
         * another manager is taken by surprise. For create-only fields (an adopted egress
         * Service's externalName is the Tailscale operator's) that conflict sends us to read
         * it and apply without them (on_op_done); kubectl's fields elsewhere are taken over.
         * On a new mesh that saves a read per object: 2,000 requests at 1,000 clusters.
         */
        if (lb_class)
            op_get(op);
        else
            apply_desired(op, NULL);
    } else if (!class_blocked(op, have)) {
        apply_desired(op, have);
    }
}

/* Phase 1, one desired object. */
void mc__reconcile_object(struct pass *p, long idx)
{
    const struct mc_desired_object *o = &p->d.objects[idx];
    const char *rv;
    const cJSON *have = mc__cached_desired(p, (size_t)idx, &rv);

    if (have && p->memo[idx].inf >= INF_FIRST_OWNED)
        p->owned_found++;
    if (nothing_to_do(p, idx, have, rv))
        return;
    cJSON *body = mc__desired_body(p, (size_t)idx);
    if (!body) {
        p->errors++;
        return;
    }
    if (have && already_there(body, o, have)) {
        cJSON_Delete(body);
        note_match(p, idx, rv);
        return;
    }
    struct op *op = mc__op_new(p, body, NULL, idx);
    bool lb_class = jstr(jpath(body, "spec", NULL), "loadBalancerClass") != NULL;
    cJSON_Delete(body);
    if (!op) {
        p->errors++;
        return;
    }
    if (have && rv && strlen(rv) < sizeof(op->base_rv))
        strcpy(op->base_rv, rv);
    send_object(op, have, lb_class);
}
