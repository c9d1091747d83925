"""OpenAPI/CRD schema registry: validation, CRD defaulting+pruning, merge metadata, CRD OpenAPI docs.

gvk everywhere is the tuple (group, version, kind); group "" is the core group.
Field paths given to merge_info are sequences of field names from the object root, list
steps omitted (["spec", "ports"]); a dotted string "spec.ports" is accepted too.

Messages follow k8s.io/apimachinery/pkg/util/validation/field (ErrorBody) and the
apiextensions-apiserver conversion of kube-openapi errors, so a 422 from this server reads
like one from a real kube-apiserver 1.32. CEL rules (x-kubernetes-validations) are not run.
"""
import base64
import binascii
import copy
import glob
import json
import os
import re

from . import cel

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
OBJECT_META = META + "ObjectMeta"

# Metadata fields a client may send; the rest of ObjectMeta is server-owned but still known.
_TYPE_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "object",
               list: "array", type(None): "null"}


def gvk_for(group, version, kind):
    return (group or "", version, kind)


def _gvk(gvk):
    if isinstance(gvk, dict):
        return (gvk.get("group") or "", gvk.get("version"), gvk.get("kind"))
    g, v, k = gvk
    return (g or "", v, k)


def gvk_of(obj):
    """gvk of an object from its apiVersion and kind."""
    av = obj.get("apiVersion") or ""
    g, _, v = av.rpartition("/")
    return (g, v, obj.get("kind"))


def reversed_group(group):
    return ".".join(reversed(group.split("."))) if group else "io.k8s.api.core"


def fmt_path(path):
    """['spec', 'ports', 0, 'port'] -> spec.ports[0].port (field.Path.String form)."""
    out = ""
    for p in path:
        if isinstance(p, int):
            out += "[%d]" % p
        elif isinstance(p, tuple):  # map key
            out += "[%s]" % p[0]
        else:
            out += ("." if out else "") + p
    return out


def go_value(v):
    """The way field.Error prints a value (%q for strings, plain for numbers, Go %#v-ish else)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (int, float)):
        return json.dumps(v)
    if v is None:
        return "null"
    return json.dumps(v, separators=(",", ":"), sort_keys=True)


def json_type(v):
    return _TYPE_NAMES.get(type(v), "object")


def _cause(reason, field, body):
    return {"reason": reason, "message": body, "field": field}


def required_cause(field, detail=""):
    return _cause("FieldValueRequired", field, "Required value" + (": " + detail if detail else ""))


def invalid_cause(field, value, detail):
    return _cause("FieldValueInvalid", field, "Invalid value: %s: %s" % (go_value(value), detail))


def not_supported_cause(field, value, supported):
    return _cause("FieldValueNotSupported", field, "Unsupported value: %s: supported values: %s" % (
        go_value(value), ", ".join(json.dumps(s) if isinstance(s, str) else go_value(s)
                                   for s in supported)))


def too_long_cause(field, maxlen):
    return _cause("FieldValueTooLong", field, "Too long: may not be more than %d byte%s"
                  % (maxlen, "" if maxlen == 1 else "s"))


def too_many_cause(field, n, maxn):
    return _cause("FieldValueTooMany", field, "Too many: %d: must have at most %d items" % (n, maxn))


def duplicate_cause(field, value):
    return _cause("FieldValueDuplicate", field, "Duplicate value: %s" % go_value(value))


def type_cause(field, value, want):
    tn = json_type(value)
    return _cause("FieldValueTypeInvalid", field, 'Invalid value: "%s": %s in body must be of type %s: "%s"'
                  % (tn, field, want, tn))


class ValidationResult:
    """causes: field causes for a 422; unknown_fields: paths strict decoding would reject;
    decode_error: for built-ins, the message of the 400 a real server gives for a value of the
    wrong JSON type (its Go decoder fails before validation), else None."""

    def __init__(self):
        self.causes = []
        self.unknown_fields = []
        self.decode_error = None

    @property
    def ok(self):
        return not self.causes and self.decode_error is None

    def __repr__(self):
        return "ValidationResult(causes=%r, unknown_fields=%r, decode_error=%r)" % (
            self.causes, self.unknown_fields, self.decode_error)


_STRING = {"type": "string"}
_META_REF = {"$ref": "#/components/schemas/" + OBJECT_META}


class _Kind:
    def __init__(self, gvk, schema, crd=None, def_name=None):
        self.root = None  # normalized root, built on first use
        self.gvk = gvk
        self.schema = schema
        self.crd = crd  # CRD object (deep copy) for custom kinds
        self.def_name = def_name


class SchemaRegistry:
    def __init__(self):
        self._defs = {}  # components.schemas of every loaded built-in document
        self._kinds = {}  # gvk -> _Kind
        self._norm_cache = {}
        self._struct_names = {}  # id(properties dict) -> Go type name, for decode errors

    # ---- loading ------------------------------------------------------------------------
    def load_openapi_dir(self, path):
        """Load every *.json OpenAPI v3 document under path (recursively)."""
        files = sorted(glob.glob(os.path.join(path, "**", "*.json"), recursive=True))
        for f in files:
            with open(f, encoding="utf-8") as fh:
                self.load_openapi_doc(json.load(fh))
        return len(files)

    def load_openapi_doc(self, doc):
        schemas = (doc.get("components") or {}).get("schemas") or {}
        self._defs.update(schemas)
        self._norm_cache.clear()
        for k in list(self._kinds.values()):
            k.root = None
        micro = schemas.get("io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime")
        if micro is not None:
            micro[_MICRO_MARK] = True
        for name, s in schemas.items():
            if s.get("properties"):
                self._struct_names[id(s["properties"])] = name.rsplit(".", 1)[-1]
            for g in s.get("x-kubernetes-group-version-kind") or []:
                key = (g.get("group") or "", g.get("version"), g.get("kind"))
                if key not in self._kinds or self._kinds[key].crd is None:
                    self._kinds[key] = _Kind(key, s, def_name=name)

    def add_crd(self, crd_obj):
        crd = copy.deepcopy(crd_obj)
        spec = crd.get("spec") or {}
        group = spec.get("group") or ""
        kind = (spec.get("names") or {}).get("kind")
        name = (crd.get("metadata") or {}).get("name")
        self.remove_crd(name)
        for ver in spec.get("versions") or []:
            schema = ((ver.get("schema") or {}).get("openAPIV3Schema")) or \
                {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            gvk = (group, ver.get("name"), kind)
            self._kinds[gvk] = _Kind(gvk, schema, crd=crd)
        self._norm_cache.clear()

    def remove_crd(self, crd_name):
        for k, v in list(self._kinds.items()):
            if v.crd is not None and (v.crd.get("metadata") or {}).get("name") == crd_name:
                del self._kinds[k]
        self._norm_cache.clear()

    def cel_causes(self, gvk, obj, old=None):
        """Failed CEL rules of a custom resource (kal.cel's subset; what it cannot judge passes)."""
        k = self._kinds.get(_gvk(gvk))
        if k is None or k.crd is None:
            return []
        out = []
        _cel_walk(k.schema, obj, _NOT_THERE if old is None else old, [], out)
        return out

    def has_cel_rules(self, gvk):
        """Whether a custom kind's schema has x-kubernetes-validations anywhere."""
        k = self._kinds.get(_gvk(gvk))
        return k is not None and k.crd is not None and '"x-kubernetes-validations"' in json.dumps(k.schema)

    def has_kind(self, gvk):
        return _gvk(gvk) in self._kinds

    def has_status_subresource(self, gvk):
        """Built-in kinds with a status all have the subresource; CRDs say so per version."""
        k = self._kinds.get(_gvk(gvk))
        if k is None:
            return False
        if k.crd is None:
            return True
        for ver in k.crd["spec"].get("versions") or []:
            if ver.get("name") == k.gvk[1]:
                return (ver.get("subresources") or {}).get("status") is not None
        return False

    def is_crd(self, gvk):
        k = self._kinds.get(_gvk(gvk))
        return bool(k and k.crd is not None)

    # ---- schema navigation ---------------------------------------------------------------
    def _norm(self, node):
        """Resolve $ref and allOf into one flat dict (cached per node)."""
        if not isinstance(node, dict):
            return {}
        if "$ref" not in node and "allOf" not in node:
            return node
        key = id(node)
        hit = self._norm_cache.get(key)
        if hit is not None and hit[0] is node:
            return hit[1]
        out = node
        if "$ref" in node or "allOf" in node:
            out = {}
            if "$ref" in node:
                out.update(self._norm(self._defs.get(node["$ref"].rsplit("/", 1)[-1], {})))
            for sub in node.get("allOf") or []:
                r = self._norm(sub)
                for k, v in r.items():
                    if k == "properties":
                        # keep the definition's own dict when there is one source, so its Go
                        # type name can still be found by identity
                        out["properties"] = v if "properties" not in out else dict(out["properties"], **v)
                    elif k == "required":
                        out["required"] = list(out.get("required", [])) + list(v)
                    else:
                        out[k] = v
            for k, v in node.items():
                if k not in ("$ref", "allOf"):
                    out[k] = v
        self._norm_cache[key] = (node, out)
        return out

    def _root(self, gvk):
        k = self._kinds.get(_gvk(gvk))
        if k is None:
            return None, None
        if k.root is None:
            root = self._norm(k.schema)
            k.root = self._crd_root(root) if k.crd is not None else root
        return k, k.root

    def _crd_root(self, root):
        # The real server validates CR metadata as ObjectMeta; the CRD schema may only narrow
        # metadata.name/generateName, which we honour on top.
        props = dict(root.get("properties") or {})
        meta = self._norm(props.get("metadata") or {})
        merged_meta = dict(self._norm(_META_REF))
        if meta.get("properties"):
            mp = dict(merged_meta.get("properties") or {})
            for n, s in meta["properties"].items():
                if n in ("name", "generateName"):
                    mp[n] = dict(self._norm(mp.get(n, {})), **s)
            merged_meta["properties"] = mp
        props["metadata"] = merged_meta
        props.setdefault("apiVersion", _STRING)
        props.setdefault("kind", _STRING)
        out = dict(root, properties=props)
        out.setdefault("type", "object")
        return out

    def _child(self, node, name):
        node = self._norm(node)
        if node.get("type") == "array" or ("items" in node and "properties" not in node):
            node = self._norm(node.get("items") or {})
        props = node.get("properties")
        if props and name in props:
            return self._norm(props[name])
        ap = node.get("additionalProperties")
        if isinstance(ap, dict):
            return self._norm(ap)
        if node.get("x-kubernetes-embedded-resource") and name == "metadata":
            return self._norm(_META_REF)
        return None

    def schema_at(self, gvk, path):
        """Normalized schema node at a field path (list steps omitted), or None."""
        _, node = self._root(gvk)
        if node is None:
            return None
        if isinstance(path, str):
            path = [p for p in path.split(".") if p]
        for name in path:
            if isinstance(name, int):
                continue
            node = self._child(node, name)
            if node is None:
                return None
        return node

    def merge_info(self, gvk, path):
        node = self.schema_at(gvk, path)
        if node is None:
            return None
        is_array = node.get("type") == "array" or "items" in node
        is_crd = self.is_crd(gvk)
        info = {
            "type": "array" if is_array else node.get("type"),
            "patch_strategy": node.get("x-kubernetes-patch-strategy"),
            "patch_merge_key": node.get("x-kubernetes-patch-merge-key"),
            "list_type": node.get("x-kubernetes-list-type") or ("atomic" if is_array else None),
            "list_map_keys": list(node.get("x-kubernetes-list-map-keys") or []),
            "map_type": node.get("x-kubernetes-map-type"),
        }
        if is_crd:
            # CRD schemas carry no patch strategy: strategic merge is not served for them.
            info["patch_strategy"] = None
            info["patch_merge_key"] = None
        if not is_array:
            # a struct has fixed fields; a map (additionalProperties, or free-form) is granular
            info["struct"] = bool(node.get("properties"))
        if is_array:
            item = self._norm(node.get("items") or {})
            info["item_type"] = item.get("type") or ("object" if item.get("properties") else None)
        return info

    # ---- validation ----------------------------------------------------------------------
    def validate(self, gvk, obj, strict):
        """Validate obj; strict only decides nothing here (unknown fields are always listed):
        the server rejects them (Strict), warns (Warn) or drops them (Ignore)."""
        res = ValidationResult()
        kind, root = self._root(gvk)
        if kind is None:
            return res
        ctx = _Ctx(crd=kind.crd is not None, kind=kind, res=res)
        self._walk(root, obj, [], ctx, top=True)
        if ctx.crd and isinstance(obj, dict):
            # The real server prunes (and drops nulls of non-nullable fields) and defaults before
            # it validates: judge values on that object, unknown fields on what was sent.
            res.causes = []
            ctx = _Ctx(crd=True, kind=kind, res=ValidationResult())
            self._walk(root, self.apply_defaults_and_prune(kind.gvk, obj), [], ctx, top=True)
            res.causes = ctx.res.causes
        if ctx.type_errors and not ctx.crd:
            path, value, want, goname = ctx.type_errors[0]
            k = kind.gvk
            res.decode_error = ('%s in version "%s" cannot be handled as a %s: json: cannot unmarshal %s '
                                'into Go struct field %s.%s of type %s' % (
                                    k[2], k[1], k[2], _go_json_kind(value), goname,
                                    ".".join(p for p in path if isinstance(p, str)), want))
        if not ctx.crd:
            _builtin_rules(kind.gvk, obj, res)
        return res

    def _walk(self, s, v, path, ctx, top=False):
        s = self._norm(s)
        field = fmt_path(path)
        crd = ctx.crd
        if v is None:
            if s.get("nullable") or not crd:
                return
            if "type" in s:
                ctx.res.causes.append(type_cause(field, v, s["type"]))
            return
        int_or_string = s.get("x-kubernetes-int-or-string") or s.get("format") == "int-or-string"
        t = s.get("type")
        if int_or_string:
            if isinstance(v, bool) or not isinstance(v, (int, str)):
                self._type_error(ctx, path, field, v, "integer,string" if crd else "IntOrString", s)
                return
        elif t and not _type_ok(t, v):
            self._type_error(ctx, path, field, v, t, s)
            return
        if "enum" in s and v not in s["enum"]:
            ctx.res.causes.append(not_supported_cause(field, v, s["enum"]))
        if isinstance(v, str):
            self._check_string(s, v, field, ctx)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            self._check_number(s, v, field, ctx)
        if isinstance(v, dict):
            self._walk_object(s, v, path, ctx, top)
        elif isinstance(v, list):
            self._walk_array(s, v, path, ctx)

    def _type_error(self, ctx, path, field, v, want, s):
        if ctx.crd:
            ctx.res.causes.append(type_cause(field, v, want))
        else:
            ctx.type_errors.append((path, v, _go_type(s), ctx.struct_name))
            ctx.res.causes.append(type_cause(field, v, want))

    def _check_string(self, s, v, field, ctx):
        ml = s.get("maxLength")
        if ml is not None and len(v) > ml:
            ctx.res.causes.append(too_long_cause(field, ml))
        mn = s.get("minLength")
        if mn is not None and len(v) < mn:
            ctx.res.causes.append(invalid_cause(field, v, "%s in body should be at least %d chars long"
                                                % (field, mn)))
        pat = s.get("pattern")
        if pat is not None:
            try:
                ok = _go_regex(pat).search(v) is not None
            except re.error:
                ok = True
            if not ok:
                ctx.res.causes.append(invalid_cause(field, v, "%s in body should match '%s'"
                                                    % (field, pat)))
        if s.get("format") == "date-time":
            self._check_time(s, v, field, ctx)
        if s.get("format") == "byte" and not _is_base64(v):
            if ctx.crd:
                ctx.res.causes.append(invalid_cause(field, v, "%s in body must be of type byte: %s"
                                                    % (field, go_value(v))))
            elif ctx.res.decode_error is None:
                # built-ins decode []byte from base64 before validating anything
                ctx.res.decode_error = "illegal base64 data at input byte %d" % _b64_bad_at(v)

    def _check_time(self, s, v, field, ctx):
        if ctx.crd:
            # go-openapi's strfmt.DateTime: RFC 3339 and a few relatives (a custom resource's
            # ObjectMeta times are the server's own)
            if not ctx.in_meta and not _STRFMT_DATE_TIME.match(v):
                ctx.res.causes.append(_cause("FieldValueTypeInvalid", field,
                                             'Invalid value: "%s": %s in body must be of type date-time: "%s"'
                                             % (v, field, v)))
            return
        # built-ins decode metav1.Time (RFC 3339) and metav1.MicroTime (exactly six digits of
        # fraction) with Go's time.Parse before anything is validated
        layout, pattern = (_MICRO_LAYOUT, _GO_MICRO_TIME) if s.get(_MICRO_MARK) else (_TIME_LAYOUT, _GO_TIME)
        if not pattern.match(v) and ctx.res.decode_error is None:
            ctx.res.decode_error = 'parsing time "%s" as "%s": cannot parse "%s"' % (v, layout, v)

    def _check_number(self, s, v, field, ctx):
        mx = s.get("maximum")
        if mx is not None and (v >= mx if s.get("exclusiveMaximum") else v > mx):
            ctx.res.causes.append(invalid_cause(field, v, "%s in body should be less than %s%s" % (
                field, "" if s.get("exclusiveMaximum") else "or equal to ", _num(mx))))
        mn = s.get("minimum")
        if mn is not None and (v <= mn if s.get("exclusiveMinimum") else v < mn):
            ctx.res.causes.append(invalid_cause(field, v, "%s in body should be greater than %s%s" % (
                field, "" if s.get("exclusiveMinimum") else "or equal to ", _num(mn))))
        mo = s.get("multipleOf")
        if mo and (v / mo) != int(v / mo):
            ctx.res.causes.append(invalid_cause(field, v, "%s in body should be a multiple of %s"
                                                % (field, _num(mo))))
        if not ctx.crd and s.get("format") == "int32" and isinstance(v, int) and not (
                -2 ** 31 <= v < 2 ** 31):
            ctx.type_errors.append(([field], v, "int32", ctx.struct_name))

    def _walk_object(self, s, v, path, ctx, top):
        props = s.get("properties") or {}
        ap = s.get("additionalProperties")
        preserve = s.get("x-kubernetes-preserve-unknown-fields")
        embedded = s.get("x-kubernetes-embedded-resource")
        prev_struct = ctx.struct_name
        if not ctx.crd and props:
            ctx.struct_name = _struct_name(s, self._struct_names) or ctx.struct_name
        for r in s.get("required") or []:
            if r not in v or (v[r] is None and not ctx.crd):
                ctx.res.causes.append(required_cause(fmt_path(path + [r])))
        mx = s.get("maxProperties")
        if mx is not None and len(v) > mx:
            ctx.res.causes.append(too_many_cause(fmt_path(path), len(v), mx))
        mn = s.get("minProperties")
        if mn is not None and len(v) < mn:
            ctx.res.causes.append(invalid_cause(fmt_path(path), v, "%s in body should have at least %d "
                                                "properties" % (fmt_path(path), mn)))
        for k, val in v.items():
            meta = int(k == "metadata" and bool(top or embedded))
            ctx.in_meta += meta
            if k in props:
                self._walk(props[k], val, path + [k], ctx)
            elif embedded and k in ("apiVersion", "kind"):
                self._walk(_STRING, val, path + [k], ctx)
            elif embedded and k == "metadata":
                self._walk(_META_REF, val, path + [k], ctx)
            elif isinstance(ap, dict):
                self._walk(ap, val, path + [(k,)], ctx)
            elif ap is True or preserve or (not props and ap is None and not s.get("type")):
                pass
            elif not props and ap is None and s.get("type") == "object" and (not ctx.crd or ctx.in_meta):
                pass  # free-form Go-typed object (RawExtension; FieldsV1 in managedFields)
            else:
                ctx.res.unknown_fields.append(fmt_path(path + [k]))
            ctx.in_meta -= meta
        for key in ("oneOf", "anyOf"):
            if key in s and ctx.crd:
                self._check_xof(s, key, v, path, ctx)
        ctx.struct_name = prev_struct

    def _check_xof(self, s, key, v, path, ctx):
        """Structural CRDs use oneOf/anyOf only for value validation (typically `required`)."""
        matches = 0
        for alt in s[key]:
            sub = _Ctx(crd=True, kind=ctx.kind, res=ValidationResult())
            self._walk(alt, v, path, sub)
            if not sub.res.causes:
                matches += 1
        field = fmt_path(path)
        if key == "oneOf" and matches != 1:
            ctx.res.causes.append(invalid_cause(field, v, "%s in body must validate one and only one "
                                                "schema (oneOf)" % field if field else
                                                "must validate one and only one schema (oneOf)"))
        if key == "anyOf" and matches == 0:
            ctx.res.causes.append(invalid_cause(field, v, "%s in body must validate at least one schema "
                                                "(anyOf)" % field))

    def _walk_array(self, s, v, path, ctx):
        field = fmt_path(path)
        mx = s.get("maxItems")
        if mx is not None and len(v) > mx:
            ctx.res.causes.append(too_many_cause(field, len(v), mx))
        mn = s.get("minItems")
        if mn is not None and len(v) < mn:
            ctx.res.causes.append(invalid_cause(field, v, "%s in body should have at least %d items"
                                                % (field, mn)))
        items = s.get("items")
        if items is not None:
            for i, item in enumerate(v):
                self._walk(items, item, path + [i], ctx)
        lt = s.get("x-kubernetes-list-type")
        if lt == "set" or s.get("uniqueItems"):
            seen = []
            for i, item in enumerate(v):
                if item in seen:
                    ctx.res.causes.append(duplicate_cause(fmt_path(path + [i]), item))
                else:
                    seen.append(item)
        elif lt == "map":
            keys = s.get("x-kubernetes-list-map-keys") or []
            item_s = self._norm(items or {})
            seen = []
            for i, item in enumerate(v):
                if not isinstance(item, dict):
                    continue
                kv = []
                for k in keys:
                    val = item.get(k)
                    if val is None:
                        val = self._norm((item_s.get("properties") or {}).get(k, {})).get("default")
                    kv.append((k, val))
                if kv in seen:
                    ctx.res.causes.append(duplicate_cause(fmt_path(path + [i]), dict(kv)))
                else:
                    seen.append(kv)

    # ---- CRD defaulting and pruning --------------------------------------------------------
    def apply_defaults_and_prune(self, gvk, obj):
        """Return a new object: unknown fields dropped; for custom resources also structural
        defaults applied (built-in defaulting is Go code the server does by itself)."""
        kind, root = self._root(gvk)
        if kind is None or not isinstance(obj, dict):
            return obj
        out = copy.deepcopy(obj)
        self._prune(root, out, kind.crd is not None)
        if kind.crd is not None:
            out = self._default(root, out)
        return out

    def _prune(self, s, v, crd):
        s = self._norm(s)
        if isinstance(v, dict):
            props = s.get("properties") or {}
            ap = s.get("additionalProperties")
            preserve = s.get("x-kubernetes-preserve-unknown-fields")
            embedded = s.get("x-kubernetes-embedded-resource")
            for k in list(v):
                if k in props:
                    if v[k] is None and (not crd or not self._norm(props[k]).get("nullable")):
                        # built-ins: the Go decoder turns null into an omitted zero value;
                        # CRDs: nulls of non-nullable fields are pruned before defaulting
                        del v[k]
                    else:
                        self._prune(props[k], v[k], crd)
                elif embedded and k in ("apiVersion", "kind"):
                    continue
                elif embedded and k == "metadata":
                    self._prune(_META_REF, v[k], crd)
                elif isinstance(ap, dict):
                    self._prune(ap, v[k], crd)
                elif ap is True or preserve or (not props and ap is None):
                    continue
                else:
                    del v[k]
        elif isinstance(v, list):
            items = s.get("items")
            if items is not None:
                for item in v:
                    self._prune(items, item, crd)

    def _default(self, s, v):
        s = self._norm(s)
        if v is None and "default" in s and not s.get("nullable"):
            return copy.deepcopy(s["default"])
        if isinstance(v, dict):
            props = s.get("properties") or {}
            for k, ps in props.items():
                psn = self._norm(ps)
                if k not in v:
                    if "default" in psn:
                        v[k] = self._default(psn, copy.deepcopy(psn["default"]))
                else:
                    v[k] = self._default(psn, v[k])
            ap = s.get("additionalProperties")
            if isinstance(ap, dict):
                for k in list(v):
                    if k not in props:
                        v[k] = self._default(ap, v[k])
        elif isinstance(v, list) and s.get("items") is not None:
            for i in range(len(v)):
                v[i] = self._default(s["items"], v[i])
        return v

    # ---- OpenAPI v3 for CRDs ---------------------------------------------------------------
    def crd_group_versions(self):
        """[(group, version)] served by registered CRDs."""
        out = []
        for k in list(self._kinds.values()):
            if k.crd is not None:
                for ver in k.crd["spec"].get("versions") or []:
                    gv = (k.crd["spec"]["group"], ver.get("name"))
                    if ver.get("served", True) and gv not in out:
                        out.append(gv)
        return sorted(out)

    def openapi_v3_doc_for_crd_group_version(self, group, version):
        schemas = {}
        paths = {}
        crds = []
        for k in list(self._kinds.values()):
            if k.crd is not None and k.gvk[0] == group and k.gvk[1] == version:
                ver = next((x for x in k.crd["spec"].get("versions") or [] if x.get("name") == version), {})
                if ver.get("served", True):
                    crds.append((k, ver))
        crds.sort(key=lambda kv: kv[0].gvk[2])
        for k, ver in crds:
            spec = k.crd["spec"]
            kind = spec["names"]["kind"]
            plural = spec["names"]["plural"]
            base = "%s.%s" % (reversed_group(group), version)
            name = "%s.%s" % (base, kind)
            gvk_ext = [{"group": group, "kind": kind, "version": version}]
            s = copy.deepcopy(k.schema)
            s.setdefault("type", "object")
            props = s.setdefault("properties", {})
            props["apiVersion"] = {"description": "APIVersion defines the versioned schema of this "
                                   "representation of an object.", "type": "string"}
            props["kind"] = {"description": "Kind is a string value representing the REST resource "
                             "this object represents.", "type": "string"}
            props["metadata"] = {"allOf": [{"$ref": "#/components/schemas/" + OBJECT_META}],
                                 "description": "Standard object's metadata. More info: "
                                 "https://git.k8s.io/community/contributors/devel/sig-architecture/"
                                 "api-conventions.md#metadata"}
            s["x-kubernetes-group-version-kind"] = gvk_ext
            schemas[name] = s
            schemas[name + "List"] = {
                "description": "%s is a list of %s" % (kind + "List", kind),
                "type": "object", "required": ["items"],
                "properties": {
                    "apiVersion": {"type": "string"},
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/" + name}},
                    "kind": {"type": "string"},
                    "metadata": {"allOf": [{"$ref": "#/components/schemas/" + META + "ListMeta"}]},
                },
                "x-kubernetes-group-version-kind": [{"group": group, "kind": kind + "List",
                                                     "version": version}],
            }
            status = bool((ver.get("subresources") or {}).get("status") is not None)
            scale = bool((ver.get("subresources") or {}).get("scale") is not None)
            namespaced = spec.get("scope", "Namespaced") == "Namespaced"
            paths.update(_crd_paths(group, version, kind, plural, name, namespaced, status, scale))
        for dep in self._meta_closure():
            schemas[dep] = copy.deepcopy(self._defs[dep])
        return {"openapi": "3.0.0",
                "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"},
                "paths": paths, "components": {"schemas": schemas}}

    def _meta_closure(self):
        roots = [OBJECT_META, META + "ListMeta", META + "Status", META + "DeleteOptions",
                 META + "Patch"]
        seen = []
        stack = [r for r in roots if r in self._defs]
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.append(n)
            for ref in re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(self._defs[n])):
                if ref in self._defs and ref not in seen:
                    stack.append(ref)
        return sorted(seen)


class _Ctx:
    def __init__(self, crd, kind, res):
        self.crd = crd
        self.kind = kind
        self.res = res
        self.type_errors = []
        self.in_meta = 0  # > 0 inside a custom resource's ObjectMeta, which Go decodes
        self.struct_name = kind.def_name.rsplit(".", 1)[-1] if kind.def_name else kind.gvk[2]


def _type_ok(t, v):
    if t == "string":
        return isinstance(v, str)
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool) or (isinstance(v, float) and v.is_integer())
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == "boolean":
        return isinstance(v, bool)
    if t == "object":
        return isinstance(v, dict)
    if t == "array":
        return isinstance(v, list)
    return True


def _go_type(s):
    t = s.get("type")
    f = s.get("format")
    if s.get("format") == "int-or-string":
        return "intstr.IntOrString"
    if t == "integer":
        return f if f in ("int32", "int64") else "int64"
    if t == "number":
        return "float64"
    if t == "boolean":
        return "bool"
    if t == "array":
        return "[]" + _go_type(s.get("items") or {})
    if t == "object":
        return "map[string]" + _go_type(s.get("additionalProperties") or {}) \
            if isinstance(s.get("additionalProperties"), dict) else "struct"
    return t or "interface {}"


def _go_json_kind(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def _struct_name(s, by_props):
    return by_props.get(id(s.get("properties")))


def _num(x):
    return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)


_GO_RE_CACHE = {}


def _go_regex(pat):
    """RE2 pattern -> Python: the syntax CRDs use is shared, but RE2's `$` is end of text only,
    while Python's also matches before a final newline."""
    out = _GO_RE_CACHE.get(pat)
    if out is None:
        out = _GO_RE_CACHE[pat] = re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pat))
    return out


def _is_base64(v):
    try:
        base64.b64decode(v, validate=True)
        return True
    except (binascii.Error, ValueError):
        return False


def _b64_bad_at(v):
    ok = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    b = v.encode()
    for i, c in enumerate(b):
        if c == ord("="):
            return i
        if c not in ok:
            return i
    return len(b) - (len(b) % 4)


# ---- built-in rules the real server applies in Go (pkg/apis/core/validation) ----------------
_SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
_PROTOCOLS = ["SCTP", "TCP", "UDP"]
_MICRO_MARK = "x-kal-micro-time"
_TIME_LAYOUT = "2006-01-02T15:04:05Z07:00"
_MICRO_LAYOUT = "2006-01-02T15:04:05.000000Z07:00"
_ZONE = r"(Z|[+-]\d{2}:\d{2})$"
_GO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?" + _ZONE)
_GO_MICRO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}" + _ZONE)
_STRFMT_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUB = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _builtin_rules(gvk, obj, res):
    if not isinstance(obj, dict):
        return
    g, v, k = gvk
    # OpenAPI marks ServicePort.port required; the real server reports the zero value instead.
    if (g, k) == ("", "Service"):
        res.causes[:] = [c for c in res.causes if not (c["reason"] == "FieldValueRequired" and
                                                       re.match(r"^spec\.ports\[\d+\]\.port$", c["field"]))]
        _service_rules(obj, res)
    elif (g, k) in (("", "ConfigMap"), ("", "Secret")):
        for fld in ("data", "binaryData", "stringData"):
            d = obj.get(fld)
            if isinstance(d, dict):
                for key in d:
                    if len(key) > 253 or not _CONFIG_KEY.match(key):
                        res.causes.append(invalid_cause(
                            "%s[%s]" % (fld, key), key,
                            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
                            "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
                            "validation is '[-._a-zA-Z0-9]+')"))


def _service_rules(obj, res):
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    stype = spec.get("type") or "ClusterIP"
    if not isinstance(stype, str):
        return
    if stype not in _SERVICE_TYPES:
        res.causes.append(not_supported_cause("spec.type", stype, _SERVICE_TYPES))
    ports = spec.get("ports") or []
    if stype != "ExternalName" and not ports and spec.get("clusterIP") != "None":
        res.causes.append(required_cause("spec.ports"))
    if stype == "ExternalName":
        en = spec.get("externalName")
        if not en:
            res.causes.append(required_cause("spec.externalName"))
        elif isinstance(en, str):
            name = en[:-1] if en.endswith(".") else en
            if len(name) > 253 or not _DNS1123_SUB.match(name):
                res.causes.append(invalid_cause(
                    "spec.externalName", en,
                    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                    "'-' or '.', and must start and end with an alphanumeric character (e.g. "
                    "'example.com', regex used for validation is "
                    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"))
    if not isinstance(ports, list):
        return
    names = []
    for i, p in enumerate(ports):
        if not isinstance(p, dict):
            continue
        base = "spec.ports[%d]" % i
        port = p.get("port", 0)
        if isinstance(port, int) and not isinstance(port, bool) and not 1 <= port <= 65535:
            res.causes.append(invalid_cause(base + ".port", port, "must be between 1 and 65535, inclusive"))
        if len(ports) > 1 and not p.get("name"):
            res.causes.append(required_cause(base + ".name"))
        proto = p.get("protocol", "TCP")
        if isinstance(proto, str) and proto not in _PROTOCOLS:
            res.causes.append(not_supported_cause(base + ".protocol", proto, _PROTOCOLS))
        target = p.get("targetPort") or port  # defaulted to the port
        if isinstance(target, int) and not isinstance(target, bool) and not 1 <= target <= 65535:
            res.causes.append(invalid_cause(base + ".targetPort", target, "must be between 1 and 65535, inclusive"))
        nm = p.get("name")
        if isinstance(nm, str) and nm and (len(nm) > 63 or not _DNS1123_LABEL.match(nm)):
            res.causes.append(invalid_cause(
                base + ".name", nm,
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
                "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"))
        if nm:
            if nm in names:
                res.causes.append(duplicate_cause(base + ".name", nm))
            names.append(nm)


def _crd_paths(group, version, kind, plural, schema_name, namespaced, status, scale):
    ref = {"$ref": "#/components/schemas/" + schema_name}
    list_ref = {"$ref": "#/components/schemas/" + schema_name + "List"}
    status_ref = {"$ref": "#/components/schemas/" + META + "Status"}
    gvk = {"group": group, "version": version, "kind": kind}
    tag = "%s_%s" % (group.replace(".", "_"), version)

    def q(name, typ="string", desc=""):
        return {"name": name, "in": "query", "description": desc, "schema": {"type": typ, "uniqueItems": True}}

    dry = q("dryRun", desc="When present, indicates that modifications should not be persisted.")
    fm = q("fieldManager", desc="fieldManager is a name associated with the actor or entity that is "
           "making these changes.")
    fv = q("fieldValidation", desc="fieldValidation instructs the server on how to handle objects in "
           "the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: "
           "- Ignore - Warn - Strict")
    force = q("force", "boolean", "Force is going to \"force\" Apply requests.")
    list_params = [q("allowWatchBookmarks", "boolean"), q("continue"), q("fieldSelector"),
                   q("labelSelector"), q("limit", "integer"), q("resourceVersion"),
                   q("resourceVersionMatch"), q("sendInitialEvents", "boolean"),
                   q("timeoutSeconds", "integer"), q("watch", "boolean")]

    def body(schema):
        return {"content": {"application/json": {"schema": schema}, "application/yaml": {"schema": schema}}}

    def op(action, opid, params, resp, req=None, codes=("200",), patch=False):
        o = {"tags": [tag], "operationId": opid, "parameters": params,
             "responses": {c: {"description": "OK" if c == "200" else "Created" if c == "201" else
                               "Accepted", "content": {"application/json": {"schema": resp},
                                                       "application/yaml": {"schema": resp}}}
                           for c in codes},
             "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk}
        o["responses"]["401"] = {"description": "Unauthorized"}
        if req is not None:
            o["requestBody"] = req
        if patch:
            o["requestBody"] = {"content": {
                ct: {"schema": {"$ref": "#/components/schemas/" + META + "Patch"}}
                for ct in ("application/apply-patch+yaml", "application/json-patch+json",
                           "application/merge-patch+json")}}
        return o

    ver = version[0].upper() + version[1:]
    suffix = "".join(p[0].upper() + p[1:] for p in group.replace("-", ".").split(".")) + ver
    ns = "Namespaced" if namespaced else ""
    pretty = q("pretty", desc="If 'true', then the output is pretty printed.")
    name_p = {"name": "name", "in": "path", "required": True, "description": "name of the " + kind,
              "schema": {"type": "string", "uniqueItems": True}}
    ns_p = {"name": "namespace", "in": "path", "required": True,
            "description": "object name and auth scope, such as for teams and projects",
            "schema": {"type": "string", "uniqueItems": True}}
    prefix = "/apis/%s/%s" % (group, version)
    coll = prefix + ("/namespaces/{namespace}/" if namespaced else "/") + plural
    item = coll + "/{name}"
    scope_params = [ns_p] if namespaced else []
    delete_body = {"content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/" + META + "DeleteOptions"}}}}
    paths = {
        coll: {
            "parameters": scope_params + [pretty],
            "get": op("list", "list%s%s%s" % (suffix, ns, kind), list_params, list_ref),
            "post": op("post", "create%s%s%s" % (suffix, ns, kind), [dry, fm, fv], ref, body(ref),
                       ("200", "201", "202")),
            "delete": op("deletecollection", "deletecollection%s%s%s" % (suffix, ns, kind),
                         [q("continue"), dry, q("fieldSelector"), q("gracePeriodSeconds", "integer"),
                          q("labelSelector"), q("limit", "integer"), q("propagationPolicy"),
                          q("resourceVersion"), q("resourceVersionMatch"),
                          q("timeoutSeconds", "integer")], status_ref, delete_body),
        },
        item: {
            "parameters": [name_p] + scope_params + [pretty],
            "get": op("get", "read%s%s%s" % (suffix, ns, kind), [q("resourceVersion")], ref),
            "put": op("put", "replace%s%s%s" % (suffix, ns, kind), [dry, fm, fv], ref, body(ref),
                      ("200", "201")),
            "patch": op("patch", "patch%s%s%s" % (suffix, ns, kind), [dry, fm, fv, force], ref,
                        patch=True),
            "delete": op("delete", "delete%s%s%s" % (suffix, ns, kind),
                         [dry, q("gracePeriodSeconds", "integer"), q("propagationPolicy")],
                         status_ref, delete_body, ("200", "202")),
        },
    }
    if namespaced:
        paths[prefix + "/" + plural] = {
            "parameters": [pretty],
            "get": op("list", "list%s%sForAllNamespaces" % (suffix, kind), list_params, list_ref)}
    if status:
        paths[item + "/status"] = {
            "parameters": [name_p] + scope_params + [pretty],
            "get": op("get", "read%s%s%sStatus" % (suffix, ns, kind), [q("resourceVersion")], ref),
            "put": op("put", "replace%s%s%sStatus" % (suffix, ns, kind), [dry, fm, fv], ref, body(ref),
                      ("200", "201")),
            "patch": op("patch", "patch%s%s%sStatus" % (suffix, ns, kind), [dry, fm, fv, force], ref,
                        patch=True),
        }
    return paths


# ---- CRD x-kubernetes-validations ---------------------------------------------------------------
_CEL_REASONS = ("FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate")
_NOT_THERE = object()


def _cel_walk(s, v, old, path, out):
    """Evaluates the rules of schema s on value v and below; old is the stored value, if any."""
    if not isinstance(s, dict) or v is None:
        return
    has_old = old is not _NOT_THERE
    if has_old and old == v:
        return  # ratcheting: an unchanged value is not judged again
    for rule in s.get("x-kubernetes-validations") or []:
        if cel.evaluate(rule.get("rule", ""), v, old if has_old else None, has_old) is False:
            out.append(_cel_cause(rule, v, path))
    if isinstance(v, dict):
        props = s.get("properties") or {}
        extra = s.get("additionalProperties")
        for k, child in v.items():
            cs = props.get(k, extra if isinstance(extra, dict) else None)
            if cs is not None:
                o = old.get(k, _NOT_THERE) if has_old and isinstance(old, dict) else _NOT_THERE
                _cel_walk(cs, child, o, path + [k], out)
    elif isinstance(v, list) and isinstance(s.get("items"), dict):
        for i, child in enumerate(v):
            _cel_walk(s["items"], child, _NOT_THERE, path + [i], out)


def _cel_cause(rule, v, path):
    fp = rule.get("fieldPath") or ""
    field = fmt_path(path) + fp if path else fp.lstrip(".")
    reason = rule.get("reason") if rule.get("reason") in _CEL_REASONS else "FieldValueInvalid"
    msg = rule.get("message") or "failed rule: %s" % rule.get("rule", "")
    return _cause(reason, field or "<nil>", 'Invalid value: "%s": %s' % (json_type(v), msg))
