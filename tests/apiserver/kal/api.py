"""Generic REST semantics: get, list, create, update, patch, delete on any registered resource.

Every write runs under the store lock, so checks and commits are atomic. Callers give a Ctx with
the query, user agent and a list that collects Warning headers.
"""
import base64
import copy
import datetime
import json
import random
import string
import uuid

import yaml

from . import builtins, meta, pure, status
from .selectors import match_fields, match_labels, parse_fields, parse_labels
from .status import ApiError

APPLY = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
TRUE = ("1", "t", "T", "TRUE", "true", "True")  # Go strconv.ParseBool
SERVER_METADATA = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                   "generation", "resourceVersion", "selfLink")


# Schema failures after which the real server does not run a CRD's CEL rules
# (apiextensions' hasBlockingErr).
CEL_BLOCKING = ("FieldValueNotSupported", "FieldValueRequired", "FieldValueTooLong", "FieldValueTooMany",
                "FieldValueTypeInvalid")


# Built-ins whose registry strategy says AllowCreateOnUpdate (a PUT to a missing name creates)
# and those that refuse an update without resourceVersion (AllowUnconditionalUpdate false).
CREATE_ON_UPDATE = (("coordination.k8s.io", "leases"), ("", "events"), ("events.k8s.io", "events"))
CONDITIONAL_UPDATE_ONLY = (("coordination.k8s.io", "leases"),)


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Ctx:
    def __init__(self, query=None, user_agent="", user="admin"):
        self.query = query or {}
        self.user_agent = user_agent or ""
        self.user = user
        self.warnings = []

    def q(self, key, default=None):
        return self.query.get(key, default)

    def flag(self, key):
        return self.query.get(key) in TRUE

    def manager(self):
        m = self.q("fieldManager")
        if m:
            return m
        # apiserver's default: the user agent up to its first '/'
        return (self.user_agent.split("/")[0] or "unknown")[:128]

    @property
    def dry_run(self):
        return self.q("dryRun") == "All"


def _spec_part(res, obj):
    """What bumps metadata.generation: everything but metadata (and status when it is a
    subresource)."""
    return {k: v for k, v in obj.items()
            if k not in ("metadata", "apiVersion", "kind") and not (res.status and k == "status")}


def _comparable(obj):
    """What decides whether a write is a no-op: everything but the resourceVersion and the
    managedFields timestamps (a change of ownership alone is a real write)."""
    o = copy.deepcopy(obj)
    md = o.get("metadata", {})
    md.pop("resourceVersion", None)
    for e in md.get("managedFields") or []:
        e.pop("time", None)
    return o


def encode_continue(rv, last_key, epoch):
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": last_key, "e": epoch})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(token):
    try:
        pad = "=" * (-len(token) % 4)
        d = json.loads(base64.urlsafe_b64decode(token + pad))
        return d["rv"], tuple(d["start"]), d["e"]
    except Exception:
        raise status.bad_request("continue key is not valid: incorrect encoded start resourceVersion")


class Api:
    def __init__(self, store, registry, schemas):
        self.store = store
        self.reg = registry
        self.schemas = schemas
        self.after_write = {}  # gr -> callable(api, res, old, new) run inside the write lock
        self.ips = builtins.IpAllocator()

    # ---- helpers -----------------------------------------------------------------------
    def out(self, res, obj, in_list=False):
        if obj is None:
            return None
        if in_list and res.builtin:
            obj.pop("apiVersion", None)
            obj.pop("kind", None)
            return obj
        obj["apiVersion"] = res.gv
        obj["kind"] = res.kind
        return obj

    def _check_namespace(self, res, ns, name="", creating=True):
        if not res.namespaced:
            return
        nsobj = self.store.get(("", "namespaces"), "", ns)
        if nsobj is None:
            raise status.namespace_not_found(ns)
        if creating and nsobj["metadata"].get("deletionTimestamp"):
            raise ApiError(403, "Forbidden",
                           '%s "%s" is forbidden: unable to create new content in namespace %s because '
                           "it is being terminated" % (status.qualified(res), name, ns),
                           {"kind": res.plural, "causes": [{"reason": "NamespaceTerminating",
                                                           "message": "namespace %s is being terminated" % ns,
                                                           "field": "metadata.namespace"}],
                            "name": name})

    def _validate(self, res, old, obj, ctx):
        """Schema, name and built-in semantic validation; applies defaults and pruning."""
        mode = ctx.q("fieldValidation", "Warn")
        if mode not in ("Strict", "Warn", "Ignore"):
            raise status.bad_request('fieldValidation parameter unsupported: "%s"; supported values: '
                                     '"Ignore", "Warn", "Strict"' % mode)
        name = obj["metadata"].get("name", "")
        result = self.schemas.validate(res.gvk, obj, mode == "Strict")
        if result.decode_error:
            # built-ins are decoded into Go structs before anything is validated
            msg = result.decode_error
            prefix = '%s in version "%s" cannot be handled as a %s: ' % (res.kind, res.version, res.kind)
            raise status.bad_request(msg if msg.startswith(prefix) else prefix + msg)
        if result.unknown_fields and mode != "Ignore":
            msgs = ['unknown field "%s"' % f for f in result.unknown_fields]
            if mode == "Strict":
                raise status.bad_request("strict decoding error: " + ", ".join(msgs))
            ctx.warnings.extend(msgs)
        causes = list(result.causes)
        if old is None:
            causes = meta.name_causes(res, name) + causes
        causes += meta.label_causes(obj["metadata"]) + meta.annotation_causes(obj["metadata"])
        causes += meta.owner_causes(obj["metadata"])
        causes += meta.finalizer_checks(res, obj["metadata"], ctx)
        fixed = self.schemas.apply_defaults_and_prune(res.gvk, obj)
        if fixed is not None:
            obj = fixed
        causes += builtins.validate(self, res, old, obj)
        seen, unique = set(), []
        for c in causes:  # the schema and the built-in rules may both report a field
            key = (c.get("field"), c.get("message"))
            if key not in seen:
                seen.add(key)
                unique.append(c)
        causes = unique
        if not res.builtin and not any(c.get("reason") in CEL_BLOCKING for c in causes):
            causes += self.schemas.cel_causes(res.gvk, obj, old)
        elif any(c.get("reason") in CEL_BLOCKING for c in causes) and self.schemas.has_cel_rules(res.gvk):
            # the real server skips the CEL rules of an object that fails these checks, and says so
            causes.append({"reason": "FieldValueInvalid", "field": "<nil>",
                           "message": "Invalid value: \"null\": some validation rules were not checked because "
                                      "the object was invalid; correct the existing errors to complete validation"})
        if causes:
            raise status.invalid(res, name, causes)
        return obj

    def _manage(self, res, old, new, ctx, op="Update", sub=None):
        mf = pure.record_update(old, new, ctx.manager(), op, self.schemas, res.gvk, now(),
                                subresource=sub)
        return mf if mf is not None else new

    # ---- reads -------------------------------------------------------------------------
    def get(self, res, ns, name, ctx):
        obj = self.store.get(res.gr, ns, name)
        if obj is None:
            raise status.not_found(res, name)
        return 200, self.out(res, obj)

    def _filters(self, res, ctx):
        lab = parse_labels(ctx.q("labelSelector", ""))
        fld = parse_fields(ctx.q("fieldSelector", ""), res)
        return lambda o: match_labels(lab, o["metadata"].get("labels")) and match_fields(fld, o)

    def list(self, res, ns, ctx):
        keep = self._filters(res, ctx)
        token = ctx.q("continue")
        limit = int(ctx.q("limit", "0") or 0)
        if ctx.q("resourceVersion") == "0" and not ctx.q("continue"):
            limit = 0  # served from the watch cache, which ignores limit
        start = at = None
        with self.store.lock:
            expired = status.CONTINUE_EXPIRED
            if token:
                if ctx.q("resourceVersion"):
                    raise status.bad_request("specifying resource version is not allowed when using continue")
                at, start, epoch = decode_continue(token)  # later pages read the first page's snapshot
                if epoch != self.store.epoch:
                    raise status.expired(expired)
            else:
                want = ctx.q("resourceVersion")
                if want and want != "0" and int(want) > self.store.rv:
                    raise ApiError(504, "Timeout", "Too large resource version: %s, current: %d"
                                   % (want, self.store.rv),
                                   {"causes": [{"reason": "ResourceVersionTooLarge",
                                                "message": "Too large resource version"}],
                                    "retryAfterSeconds": 1}, {"Retry-After": "1"})
                match = ctx.q("resourceVersionMatch")
                if match and match not in ("Exact", "NotOlderThan"):
                    raise status.invalid_plain("resourceVersionMatch", 'Unsupported value: "%s": supported values: '
                                               '"Exact", "NotOlderThan", ""' % match)
                if match and not want:
                    raise status.invalid_plain("resourceVersionMatch", "Forbidden: resourceVersionMatch is "
                                               "forbidden unless resourceVersion is provided")
                if match == "Exact" and want == "0":
                    raise status.invalid_plain("resourceVersionMatch", 'Forbidden: resourceVersionMatch "exact" '
                                               'is forbidden for resourceVersion "0"')
                if want and want != "0" and (match == "Exact" or (limit and not match)):
                    # an exact read (a value with limit is one): served from the history
                    at = int(want)
                    expired = "The resourceVersion for the provided list is too old."
            rv = at if at is not None else self.store.rv
            epoch = self.store.epoch
            got = self.store.page(res.gr, ns, at, start, limit, keep)
            if got is None:
                raise status.expired(expired)
        items, more, remaining = got
        md = {"resourceVersion": str(rv)}
        if more:
            last = items[-1]["metadata"]
            md["continue"] = encode_continue(rv, [last.get("namespace", ""), last["name"]], epoch)
            if not ctx.q("labelSelector") and not ctx.q("fieldSelector"):
                md["remainingItemCount"] = remaining
        return 200, {"kind": res.kind + "List", "apiVersion": res.gv, "metadata": md,
                     "items": [self.out(res, o, in_list=True) for o in items]}

    # ---- create ------------------------------------------------------------------------
    def create(self, res, ns, obj, ctx, managed=None):
        if not isinstance(obj, dict):
            raise status.bad_request("the object provided is unrecognized (must be of type %s)" % res.kind)
        self._check_kind(res, obj)
        md = obj.get("metadata")
        if not isinstance(md, dict):
            md = obj["metadata"] = {}
        if res.namespaced:
            if md.get("namespace") and md["namespace"] != ns:
                raise status.bad_request("the namespace of the provided object does not match the "
                                         "namespace sent on the request")
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        if not md.get("name"):
            if md.get("generateName"):
                md["name"] = md["generateName"] + "".join(random.choice("bcdfghjklmnpqrstvwxz2456789")
                                                          for _ in range(5))
            else:
                raise status.invalid(res, "", [{"reason": "FieldValueRequired", "field": "metadata.name",
                                                "message": "Required value: name or generateName is required"}])
        if md.get("managedFields") and managed is None:
            md.pop("managedFields")
        if md.get("resourceVersion") and managed is None:
            raise status.bad_request("resourceVersion should not be set on objects to be created")
        for k in SERVER_METADATA:
            md.pop(k, None)
        if res.status and not res.builtin:
            obj.pop("status", None)
        with self.store.lock:
            self._check_namespace(res, ns, md.get("name", ""))
            obj = self._validate(res, None, obj, ctx)
            builtins.on_create(self, res, obj)
            md = obj["metadata"]
            if self.store.get(res.gr, ns, md["name"]) is not None:
                raise status.already_exists(res, md["name"])
            md["uid"] = str(uuid.uuid4())
            md["creationTimestamp"] = now()
            if res.generation or not res.builtin:
                md["generation"] = 1
            obj = managed(obj) if managed else self._manage(res, None, obj, ctx)
            builtins.allocate(self, res, None, obj, ctx.dry_run)
            if ctx.dry_run:
                return 201, self.out(res, obj)
            stored = self.store.put(res.gr, obj)
            hook = self.after_write.get(res.gr)
            if hook:
                hook(self, res, None, stored)
            return 201, self.out(res, stored)

    def _check_kind(self, res, obj):
        kind = obj.get("kind")
        av = obj.get("apiVersion")
        if kind and kind != res.kind:
            raise status.bad_request("the object provided is unrecognized (must be of type %s): "
                                     "kind %s does not match" % (res.kind, kind))
        if av and av.split("/")[0] != (res.group or av.split("/")[0]) and res.group:
            raise status.bad_request("the API version in the data (%s) does not match the expected "
                                     "API version (%s)" % (av, res.gv))

    # ---- update ------------------------------------------------------------------------
    def update(self, res, ns, name, obj, ctx, sub=None):
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
            raise status.bad_request("the object provided is unrecognized (must be of type %s)" % res.kind)
        self._check_kind(res, obj)
        md = obj["metadata"]
        if md.get("name") and md["name"] != name:
            raise status.bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                                     % (md["name"], name))
        if res.namespaced and md.get("namespace") and md["namespace"] != ns:
            raise status.bad_request("the namespace of the provided object does not match the "
                                     "namespace sent on the request")
        with self.store.lock:
            old = self.store.get(res.gr, ns, name)
            if old is None and res.gr in CREATE_ON_UPDATE and sub is None:
                md["name"] = name
                md.pop("resourceVersion", None)  # ignored when the PUT creates
                return self.create(res, ns, obj, ctx)
            if old is None:
                raise status.not_found(res, name)
            rv = md.get("resourceVersion")
            if not rv and (not res.builtin or res.gr in CONDITIONAL_UPDATE_ONLY):
                raise status.invalid(res, name, [{"reason": "FieldValueInvalid",
                                                  "field": "metadata.resourceVersion",
                                                  "message": "Invalid value: 0x0: must be specified for an update"}])
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise status.conflict(res, name)
            return self._commit(res, old, obj, ctx, sub)

    def _commit(self, res, old, new, ctx, sub=None, op="Update", managed=False):
        """Shared tail of update and patch: subresource rules, server metadata, validation,
        generation, managedFields, no-op detection, finalizer-driven removal."""
        new = copy.deepcopy(new)
        name = old["metadata"]["name"]
        if sub == "status":
            merged = copy.deepcopy(old)
            merged["status"] = new.get("status")
            if merged["status"] is None:
                merged.pop("status")
            if new["metadata"].get("managedFields"):
                merged["metadata"]["managedFields"] = new["metadata"]["managedFields"]
            new = merged
        elif sub == "finalize":
            merged = copy.deepcopy(old)
            merged.setdefault("spec", {})["finalizers"] = (new.get("spec") or {}).get("finalizers") or []
            new = merged
        elif res.status:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        md = new.setdefault("metadata", {})
        # managedFields: [{}] is how a client resets them (the write itself is not recorded)
        reset_fields = md.get("managedFields") == [{}] and not managed
        omd = old["metadata"]
        for k in SERVER_METADATA:
            if k in omd:
                md[k] = omd[k]
            else:
                md.pop(k, None)
        md["name"] = omd["name"]
        if "namespace" in omd:
            md["namespace"] = omd["namespace"]
        if omd.get("deletionTimestamp"):
            added = [f for f in md.get("finalizers") or [] if f not in (omd.get("finalizers") or [])]
            if added:
                raise status.invalid(res, name, [{
                    "reason": "FieldValueForbidden", "field": "metadata.finalizers",
                    "message": "Forbidden: no new finalizers can be added if the object is being "
                               "deleted, found new finalizers []string{%s}" % ", ".join('"%s"' % f for f in added)}])
        new = self._validate(res, old, new, ctx)
        md = new["metadata"]
        if "generation" in md and _spec_part(res, new) != _spec_part(res, old):
            md["generation"] = int(md["generation"]) + 1
        if reset_fields:
            new["metadata"].pop("managedFields", None)
        elif not managed:
            new = self._manage(res, old, new, ctx, op, sub)
        builtins.allocate(self, res, old, new, ctx.dry_run)
        if _comparable(new) == _comparable(old):
            return 200, self.out(res, old)
        if ctx.dry_run:
            return 200, self.out(res, new)
        stored = self.store.put(res.gr, new)
        hook = self.after_write.get(res.gr)
        if hook:
            hook(self, res, old, stored)
        if stored["metadata"].get("deletionTimestamp") and not stored["metadata"].get("finalizers") \
                and not builtins.pending_finalization(res, stored):
            self.store.remove(res.gr, md.get("namespace", ""), name)
            self._after_remove(res, stored)
        return 200, self.out(res, stored)

    # ---- patch -------------------------------------------------------------------------
    def patch(self, res, ns, name, body, ctype, ctx, sub=None):
        ctype = (ctype or "").split(";")[0].strip().lower()
        accepted = [JSON_PATCH, MERGE, APPLY] + ([STRATEGIC] if res.builtin else [])
        if ctype not in accepted:
            raise ApiError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media types "
                           "include: " + ", ".join(accepted))
        try:
            if ctype == APPLY:
                p = yaml.safe_load(body.decode() if body else "")
            else:
                p = json.loads(body.decode() if body else "null")
        except (ValueError, yaml.YAMLError) as e:
            raise status.bad_request("error decoding patch: %s" % e)
        if ctype == APPLY:
            return self._apply(res, ns, name, p, ctx, sub)
        if ctx.flag("force"):
            raise ApiError(422, "Invalid", "force: Forbidden: may not be specified for non-apply patch",
                         {"causes": [{"reason": "FieldValueForbidden", "field": "force",
                                      "message": "Forbidden: may not be specified for non-apply patch"}]})
        with self.store.lock:
            old = self.store.get(res.gr, ns, name)
            if old is None:
                raise status.not_found(res, name)
            base = self.out(res, copy.deepcopy(old))
            try:
                if ctype == JSON_PATCH:
                    if not isinstance(p, list):
                        raise status.bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
                    new = pure.json_patch(base, p)
                elif ctype == MERGE:
                    new = pure.merge_patch(base, p)
                else:
                    new = pure.strategic_merge_patch(base, p, self.schemas, res.gvk)
            except pure.PatchError as e:
                raise ApiError(e.code, e.reason, e.message)
            if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
                raise status.bad_request("the patched object is not an object")
            rv = new["metadata"].get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise status.conflict(res, name)
            if new["metadata"].get("name", name) != name:
                raise status.bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                                         % (new["metadata"].get("name"), name))
            return self._commit(res, old, new, ctx, sub)

    def _apply(self, res, ns, name, applied, ctx, sub):
        if not ctx.q("fieldManager"):
            raise status.invalid(res, name, [{"reason": "FieldValueRequired", "field": "fieldManager",
                                              "message": "Required value: is required for apply patch"}])
        if not isinstance(applied, dict):
            raise status.bad_request("error decoding YAML: the applied configuration must be an object")
        gvk_sent = "%s, Kind=%s" % (_group_version(applied.get("apiVersion")), applied.get("kind") or "")
        if gvk_sent != "%s, Kind=%s" % (_group_version(res.gv), res.kind):
            # the apply body is decoded as the endpoint's own kind, nothing else
            raise status.bad_request("invalid object type: " + gvk_sent)
        force = ctx.flag("force")
        amd = applied.get("metadata") or {}
        if amd.get("managedFields"):
            raise status.bad_request("metadata.managedFields must be nil")
        if amd.get("name") and amd["name"] != name:
            raise status.bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                                     % (amd["name"], name))
        mgr = ctx.q("fieldManager")
        if ctx.q("fieldValidation") == "Strict":
            # the typed conversion of the apply body fails before ownership is looked at
            unknown = self.schemas.validate(res.gvk, applied, True).unknown_fields
            if unknown:
                msg = "failed to create typed patch object (%s/%s; %s, Kind=%s): %s" % (
                    ns or "", name, res.gv if res.group else "/" + res.version, res.kind,
                    "\n".join(".%s: field not declared in schema" % f for f in unknown))
                if not res.builtin:  # a custom resource's typed conversion fails as an internal error
                    raise ApiError(500, "", msg, None)
                raise status.bad_request(msg)

        dup = pure.duplicate_key(applied, self.schemas, res.gvk)
        if dup:  # the real server's typed conversion fails: an internal error, not a 422
            raise ApiError(500, "", "failed to create typed patch object (%s/%s; %s, Kind=%s): %s" % (
                ns or "", name, _group_version(res.gv), res.kind, dup), None)

        def do_apply(live):
            try:
                return pure.apply(live, copy.deepcopy(applied), mgr, force, self.schemas, res.gvk, now(),
                                  subresource=sub)
            except pure.ApplyConflict as e:
                causes = e.causes()
                d = {"name": name}
                if res.group:
                    d["group"] = res.group
                d["kind"] = res.plural
                d["causes"] = causes
                raise ApiError(409, "Conflict", e.message or str(e), d)

        with self.store.lock:
            old = self.store.get(res.gr, ns, name)
            if old is None:
                if sub:
                    raise status.not_found(res, name)
                created = do_apply(None)
                created.setdefault("metadata", {})["name"] = name
                mf = created["metadata"].get("managedFields", [])
                return self.create(res, ns, created, ctx, managed=lambda o: _with_fields(o, mf))
            base = self.out(res, copy.deepcopy(old))
            new = do_apply(base)
            rv = applied.get("metadata", {}).get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise status.conflict(res, name)
            return self._commit(res, old, new, ctx, sub, op="Apply", managed=True)

    # ---- delete ------------------------------------------------------------------------
    def delete(self, res, ns, name, ctx, opts=None):
        opts = opts or {}
        policy = ctx.q("propagationPolicy") or opts.get("propagationPolicy")
        if not policy:
            orphan = ctx.q("orphanDependents", opts.get("orphanDependents"))
            if orphan in (True, "true"):
                policy = "Orphan"
        if policy and policy not in ("Orphan", "Background", "Foreground"):
            raise status.invalid(res, name, [{"reason": "FieldValueNotSupported", "field": "propagationPolicy",
                                              "message": 'Unsupported value: "%s": supported values: '
                                                         '"Foreground", "Background", "Orphan", "nil"' % policy}])
        if res.gr == ("", "namespaces") and name in PROTECTED_NAMESPACES:
            raise ApiError(403, "Forbidden", 'namespaces "%s" is forbidden: this namespace may not be deleted' % name,
                           {"name": name, "kind": "namespaces"})
        with self.store.lock:
            old = self.store.get(res.gr, ns, name)
            if old is None:
                raise status.not_found(res, name)
            pre = opts.get("preconditions") or {}
            omd = old["metadata"]
            if pre.get("uid") and pre["uid"] != omd.get("uid"):
                raise status.conflict(res, name, "Precondition failed: UID in precondition: %s, UID in object meta: %s"
                                      % (pre["uid"], omd.get("uid")))
            if pre.get("resourceVersion") and pre["resourceVersion"] != omd.get("resourceVersion"):
                raise status.conflict(res, name, "Precondition failed: ResourceVersion in precondition: %s, "
                                      "ResourceVersion in object meta: %s" % (pre["resourceVersion"], omd.get("resourceVersion")))
            fins = list(omd.get("finalizers") or [])
            if policy == "Orphan" and "orphan" not in fins:
                fins.append("orphan")
            if policy == "Foreground" and "foregroundDeletion" not in fins:
                fins.append("foregroundDeletion")
            if fins or builtins.pending_finalization(res, old):
                if omd.get("deletionTimestamp") and fins == (omd.get("finalizers") or []):
                    return 200, self.out(res, old)
                new = copy.deepcopy(old)
                md = new["metadata"]
                md["finalizers"] = fins
                if not md.get("deletionTimestamp"):
                    md["deletionTimestamp"] = now()
                    md["deletionGracePeriodSeconds"] = 0
                    if "generation" in md:
                        md["generation"] = int(md["generation"]) + 1
                builtins.on_delete_pending(res, new)
                if ctx.dry_run:
                    return 200, self.out(res, new)
                stored = self.store.put(res.gr, new)
                hook = self.after_write.get(res.gr)
                if hook:
                    hook(self, res, old, stored)
                return 200, self.out(res, stored)
            if ctx.dry_run:
                return 200, status.success(res, name, omd.get("uid"))
            last = self.store.remove(res.gr, ns, name)
            self._after_remove(res, last)
            if res.delete_returns == "object":
                return 200, self.out(res, last)
            return 200, status.success(res, name, omd.get("uid"))

    def _after_remove(self, res, last):
        builtins.on_removed(self, res, last)
        hook = self.after_write.get(res.gr)
        if hook:
            hook(self, res, last, None)

    def delete_collection(self, res, ns, ctx, opts=None):
        _, lst = self.list(res, ns, Ctx({k: v for k, v in ctx.query.items()
                                        if k in ("labelSelector", "fieldSelector")}))
        deleted = []
        for o in lst["items"]:
            try:
                _, d = self.delete(res, o["metadata"].get("namespace", ""), o["metadata"]["name"], ctx, opts)
                if d.get("kind") != "Status":
                    deleted.append(d)
            except ApiError as e:
                if e.code != 404:
                    raise
        lst["items"] = deleted
        return 200, lst

    # ---- internal writers (controllers emulated in this process) -------------------------
    def internal_update(self, gr, obj, manager, sub=None):
        res = self.reg.storage_of(gr)
        md = obj["metadata"]
        ctx = Ctx({"fieldManager": manager, "fieldValidation": "Ignore"})
        with self.store.lock:
            old = self.store.get(gr, md.get("namespace", ""), md["name"])
            if old is None or old["metadata"]["resourceVersion"] != md.get("resourceVersion"):
                return None
            return self._commit(res, old, obj, ctx, sub)[1]

    def internal_delete(self, gr, ns, name, policy="Background"):
        res = self.reg.storage_of(gr)
        try:
            return self.delete(res, ns, name, Ctx({"propagationPolicy": policy}))
        except ApiError:
            return None


def _group_version(api_version):
    """apiVersion as Go prints a GroupVersion in a GVK: "/v1", "apps/v1", "/" when empty."""
    av = api_version or ""
    return av if "/" in av else "/" + av


def _with_fields(obj, managed_fields):
    """Create via apply: keep the server-side-apply result's managedFields on the new object."""
    obj["metadata"]["managedFields"] = managed_fields
    return obj


def random_token(n=32):
    return "".join(random.SystemRandom().choice(string.ascii_letters + string.digits) for _ in range(n))
