"""Server-side apply and managedFields (FieldsV1) bookkeeping, after structured-merge-diff.

A field path is a tuple of elements: ("f", name) a struct/map field, ("k", json) a list-map item
keyed by its key fields, ("v", json) a set element, ("i", n) an atomic list never needs one.
A manager's set holds every leaf it owns plus list-map items themselves (FieldsV1 ".").
"""
import copy
import json

# Never tracked (apimachinery fieldmanager strips these for every resource).
_STRIPPED = {
    (("f", "apiVersion"),), (("f", "kind"),),
    (("f", "metadata"), ("f", "name")), (("f", "metadata"), ("f", "namespace")),
    (("f", "metadata"), ("f", "creationTimestamp")), (("f", "metadata"), ("f", "selfLink")),
    (("f", "metadata"), ("f", "uid")), (("f", "metadata"), ("f", "generation")),
    (("f", "metadata"), ("f", "managedFields")), (("f", "metadata"), ("f", "resourceVersion")),
    (("f", "metadata"), ("f", "deletionTimestamp")),
    (("f", "metadata"), ("f", "deletionGracePeriodSeconds")),
}


class ApplyConflict(Exception):
    """conflicts: [(other_manager, ".spec.x")]; described: [('"m" using v1', ".spec.x")] as the
    real server prints managers; message: the Status message of the 409; causes(): its causes."""

    def __init__(self, conflicts, described=None):
        self.conflicts = list(conflicts)
        self.described = list(described) if described is not None else \
            [(json.dumps(m), p) for m, p in self.conflicts]
        self.message = _conflict_message(self.described)
        super().__init__(self.message)

    def causes(self):
        return [{"reason": "FieldManagerConflict", "message": "conflict with %s" % m, "field": p}
                for m, p in self.described]


def _conflict_message(conflicts):
    if len(conflicts) == 1:
        m, p = conflicts[0]
        return "Apply failed with 1 conflict: conflict with %s: %s" % (m, p)
    by = {}
    for m, p in conflicts:
        by.setdefault(m, []).append(p)
    lines = []
    for m in sorted(by):
        lines.append("conflicts with %s:" % m)
        lines.extend("- %s" % p for p in by[m])
    return "Apply failed with %d conflicts: %s" % (len(conflicts), "\n".join(lines))


def _describe(entry):
    """printManager: Apply managers by name, Update managers with their apiVersion."""
    s = json.dumps(entry.get("manager", ""))
    if entry.get("subresource"):
        s += " with subresource %s" % json.dumps(entry["subresource"])
    if entry.get("operation") == "Update":
        s += " using %s" % entry.get("apiVersion", "")
    return s


# ---- schema-driven traversal ------------------------------------------------------------------
class _Types:
    def __init__(self, registry, gvk):
        self.registry = registry
        self.gvk = gvk
        self.cache = {}

    def info(self, fpath):
        if fpath not in self.cache:
            info = None
            if self.registry is not None and fpath:
                try:
                    info = self.registry.merge_info(self.gvk, list(fpath))
                except Exception:
                    info = None
            self.cache[fpath] = info
        return self.cache[fpath]

    def list_kind(self, fpath, items):
        """('map', keys) | ('set', None) | ('atomic', None) for the list at fpath."""
        info = self.info(fpath) or {}
        lt = info.get("list_type")
        if lt == "map" and info.get("list_map_keys"):
            return "map", list(info["list_map_keys"])
        if lt == "set":
            return "set", None
        # every merge-strategy list in the 1.32 documents also states its list type, so a list
        # without one is atomic, as it is for custom resources
        return "atomic", None

    def key_default(self, fpath, name):
        if self.registry is None or not hasattr(self.registry, "schema_at"):
            return None
        s = self.registry.schema_at(self.gvk, list(fpath) + [name])
        return (s or {}).get("default")

    def atomic_map(self, fpath):
        info = self.info(fpath) or {}
        return info.get("map_type") == "atomic"


def _item_key(types, fpath, keys, item):
    kv = {}
    for k in keys:
        v = item.get(k)
        if v is None:
            v = types.key_default(fpath, k)
        if v is not None:
            kv[k] = v
    return json.dumps(kv, separators=(",", ":"), sort_keys=True)


def duplicate_key(obj, registry, gvk):
    """The first list-map entry of obj whose key repeats an earlier one, as
    ".spec.ports: duplicate entries for key [port=80,protocol="TCP"]", or None."""
    return _duplicate_key(obj, _Types(registry, tuple(gvk)), ())


def _duplicate_key(obj, types, fpath):
    if isinstance(obj, dict):
        for k, v in obj.items():
            found = _duplicate_key(v, types, fpath + (k,))
            if found:
                return found
        return None
    if not isinstance(obj, list):
        return None
    kind, keys = types.list_kind(fpath, obj)
    if kind != "map" or not all(isinstance(x, dict) for x in obj):
        return None
    seen = set()
    for item in obj:
        key = _item_key(types, fpath, keys, item)
        if key in seen:
            kv = json.loads(key)
            return ".%s: duplicate entries for key [%s]" % (".".join(fpath), ",".join(
                "%s=%s" % (k, json.dumps(kv[k])) for k in keys if k in kv))
        seen.add(key)
        for k, v in item.items():
            found = _duplicate_key(v, types, fpath + (k,))
            if found:
                return found
    return None


def _fieldset(obj, types, fpath=(), path=(), out=None):
    """All owned paths of obj's values below path."""
    if out is None:
        out = set()
    if isinstance(obj, dict):
        if not obj or (fpath and types.atomic_map(fpath)):
            if path:
                out.add(path)
            return out
        for k, v in obj.items():
            _fieldset(v, types, fpath + (k,), path + (("f", k),), out)
        return out
    if isinstance(obj, list):
        kind, keys = types.list_kind(fpath, obj)
        if kind == "map" and all(isinstance(x, dict) for x in obj):
            for item in obj:
                ip = path + (("k", _item_key(types, fpath, keys, item)),)
                out.add(ip)
                for k, v in item.items():
                    _fieldset(v, types, fpath + (k,), ip + (("f", k),), out)
            return out
        if kind == "set":
            for x in obj:
                out.add(path + (("v", json.dumps(x, separators=(",", ":"), sort_keys=True)),))
            return out
        out.add(path)
        return out
    out.add(path)
    return out


def _containers(obj, types, fpath=(), path=(), out=None):
    """Paths of granular maps and associative lists/sets in obj. An Update that makes one
    appear owns the container itself too (FieldsV1 ".": {}), as the real server records."""
    if out is None:
        out = set()
    if isinstance(obj, dict):
        if fpath and types.atomic_map(fpath):
            return out
        info = types.info(fpath) if fpath else {"struct": True}
        if obj and not (info or {}).get("struct", False):
            out.add(path)
        for k, v in obj.items():
            _containers(v, types, fpath + (k,), path + (("f", k),), out)
    elif isinstance(obj, list) and obj:
        kind, keys = types.list_kind(fpath, obj)
        if kind == "map" and all(isinstance(x, dict) for x in obj):
            out.add(path)
            for item in obj:
                ip = path + (("k", _item_key(types, fpath, keys, item)),)
                for k, v in item.items():
                    _containers(v, types, fpath + (k,), ip + (("f", k),), out)
        elif kind == "set":
            out.add(path)
    return out


def _tracked(paths, subresource, track_status):
    res = set()
    for p in paths:
        if p[:2] in _STRIPPED or p[:1] in _STRIPPED or not p:
            continue
        if p == (("f", "metadata"),):
            continue
        top = p[0]
        if subresource == "status":
            if top != ("f", "status"):
                continue
        elif top == ("f", "status") and not track_status:
            continue
        res.add(p)
    return res


def _get(obj, path, types, fpath=()):
    cur = obj
    for el in path:
        t, v = el
        if t == "f":
            if not isinstance(cur, dict) or v not in cur:
                return _MISSING
            cur = cur[v]
            fpath = fpath + (v,)
        elif t == "k":
            if not isinstance(cur, list):
                return _MISSING
            _, keys = types.list_kind(fpath, cur)
            keys = keys or list(json.loads(v))
            hit = _MISSING
            for item in cur:
                if isinstance(item, dict) and _item_key(types, fpath, keys, item) == v:
                    hit = item
                    break
            if hit is _MISSING:
                return _MISSING
            cur = hit
        elif t == "v":
            val = json.loads(v)
            if not isinstance(cur, list) or val not in cur:
                return _MISSING
            cur = val
    return cur


_MISSING = object()


def _same(a, b, path):
    """Whether two values at an owned path agree. A list-map item's own path stands for its
    presence (its fields are owned paths of their own); any other path is a leaf compared whole
    (atomic maps and lists included)."""
    if path and path[-1][0] == "k":
        return isinstance(a, dict) and isinstance(b, dict)
    return _json_equal(a, b)


def _json_equal(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    return a == b


# ---- FieldsV1 encoding -------------------------------------------------------------------------
def _el_str(el):
    t, v = el
    return "%s:%s" % (t, v)


def to_fields_v1(paths):
    root = {}
    for p in sorted(paths, key=lambda p: [_el_str(e) for e in p]):
        node = root
        for el in p:
            node = node.setdefault(_el_str(el), {})
        node["."] = node.get(".", {})
    return _collapse(root)


def _collapse(node):
    """A member with no children is written {}; with children it keeps "." : {}."""
    out = {}
    for k, v in node.items():
        if k == ".":
            continue
        kids = {kk: vv for kk, vv in v.items() if kk != "."}
        if not kids:
            out[k] = {}
        else:
            c = _collapse(v)
            if "." in v:
                c = dict({".": {}}, **c)
            out[k] = c
    return out


def from_fields_v1(fields, prefix=()):
    out = set()
    for k, v in (fields or {}).items():
        if k == ".":
            out.add(prefix)
            continue
        t, _, rest = k.partition(":")
        el = (t, rest)
        p = prefix + (el,)
        if not v:
            out.add(p)
        else:
            out |= from_fields_v1(v, p)
    return out


def path_string(path):
    """fieldpath.Path.String(): .spec.ports[port=15443,protocol="TCP"].port, [="a"] for sets."""
    s = ""
    for t, v in path:
        if t == "f":
            s += "." + v
        elif t == "k":
            kv = json.loads(v)
            s += "[" + ",".join("%s=%s" % (k, json.dumps(kv[k], separators=(",", ":")))
                                for k in sorted(kv)) + "]"
        elif t == "v":
            s += "[=%s]" % v
        else:
            s += "[%s]" % v
    return s


# ---- managedFields -----------------------------------------------------------------------------
def _api_version(gvk):
    g, v, _ = gvk
    return v if not g else "%s/%s" % (g, v)


def _entries(obj):
    mf = ((obj or {}).get("metadata") or {}).get("managedFields") or []
    out = []
    for e in mf:
        if isinstance(e, dict):
            out.append({"entry": dict(e), "set": from_fields_v1(e.get("fieldsV1"))})
    return out


def _ekey(e):
    return (e.get("manager"), e.get("operation"), e.get("subresource") or "")


def _write_entries(obj, entries):
    out = []
    for x in entries:
        if not x["set"]:
            continue
        e = dict(x["entry"])
        e["fieldsType"] = "FieldsV1"
        e["fieldsV1"] = to_fields_v1(x["set"])
        ordered = {k: e[k] for k in ("manager", "operation", "apiVersion", "time", "fieldsType",
                                     "fieldsV1", "subresource") if k in e and e[k] not in (None, "")}
        out.append(ordered)
    # the order the apiserver writes: operation, time (seconds), manager, apiVersion, subresource
    out.sort(key=lambda e: (e.get("operation", ""), str(e.get("time") or "")[:19], e.get("manager", ""),
                            e.get("apiVersion", ""), e.get("subresource", "")))
    md = obj.setdefault("metadata", {})
    if out:
        md["managedFields"] = out
    else:
        md.pop("managedFields", None)
    return obj


def _track_status(registry, gvk):
    """Status is reset on the main endpoint only when the kind has a status subresource."""
    if registry is not None and hasattr(registry, "has_status_subresource"):
        return not registry.has_status_subresource(gvk)
    return False


def record_update(old, new, manager, operation, registry, gvk, now, subresource=None):
    """Ownership after a non-apply write: manager takes every changed or added field."""
    gvk = tuple(gvk)
    types = _Types(registry, gvk)
    ts = _track_status(registry, gvk)
    new = copy.deepcopy(new)
    new_set = _tracked(_fieldset(_strip_meta(new), types), subresource, ts)
    old_set = _tracked(_fieldset(_strip_meta(old), types), subresource, ts) if old else set()
    changed = set()
    for p in new_set:
        if p not in old_set:
            changed.add(p)
        else:
            a = _get(old, p, types)
            b = _get(new, p, types)
            if not _same(a, b, p):
                changed.add(p)
    new_cont = _tracked(_containers(_strip_meta(new), types), subresource, ts)
    old_cont = _tracked(_containers(_strip_meta(old), types), subresource, ts) if old else set()
    changed |= new_cont - old_cont
    removed = old_set - new_set
    entries = _entries(old) if old else []
    # keep entries the client sent on create (or none); on update the stored ones win
    if old is None:
        entries = _entries(new)
    mine = None
    key = (manager, operation, subresource or "")
    for x in entries:
        if _ekey(x["entry"]) == key:
            mine = x
        x["set"] = {p for p in x["set"] if p not in removed and not _covered(p, removed)}
        if x is not mine:
            x["set"] -= changed
    if changed:
        if mine is None:
            mine = {"entry": {"manager": manager, "operation": operation}, "set": set()}
            if subresource:
                mine["entry"]["subresource"] = subresource
            entries.append(mine)
        mine["set"] |= changed
        mine["entry"]["apiVersion"] = _api_version(gvk)
        mine["entry"]["time"] = now
    # a field leaves its owners only when it is gone from the object: with a status subresource
    # a write through one endpoint leaves the other side's entries as they were
    keep = _present(new, types)
    for x in entries:
        x["set"] = {p for p in x["set"] if p in keep}
    return _write_entries(new, entries)


def _present(obj, types):
    """Every path of obj that an entry may own, whichever endpoint it was written through."""
    o = _strip_meta(obj)
    return _tracked(_fieldset(o, types) | _containers(o, types), None, True)


def _covered(p, removed):
    return any(p[:len(r)] == r for r in removed if len(r) < len(p))


def _strip_meta(obj):
    if not isinstance(obj, dict):
        return obj
    o = dict(obj)
    if isinstance(o.get("metadata"), dict):
        md = dict(o["metadata"])
        for k in ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation",
                  "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "name", "namespace"):
            md.pop(k, None)
        o["metadata"] = md
    return o


def apply(live, applied, manager, force, registry, gvk, now, subresource=None):
    """Server-side apply of `applied` (the request body) onto `live` (None when creating)."""
    gvk = tuple(gvk)
    types = _Types(registry, gvk)
    ts = _track_status(registry, gvk)
    applied = _drop_nulls(copy.deepcopy(applied))
    if isinstance(applied.get("metadata"), dict):
        applied["metadata"].pop("managedFields", None)
    # the status endpoint applies only status; the main one ignores status when it is a subresource
    if subresource == "status":
        applied = {k: v for k, v in applied.items() if k in ("apiVersion", "kind", "status")}
    elif not ts:
        applied.pop("status", None)
    base = copy.deepcopy(live) if live else {}
    applied_set = _tracked(_fieldset(_strip_meta(applied), types), subresource, ts)
    entries = _entries(live) if live else []
    key = (manager, "Apply", subresource or "")
    mine = next((x for x in entries if _ekey(x["entry"]) == key), None)
    prev = mine["set"] if mine else set()

    # conflicts: another manager owns a path whose value this apply changes
    conflicts = []
    described = []
    conflict_paths = set()
    for x in entries:
        if x is mine:
            continue
        for p in sorted(x["set"] & applied_set, key=lambda p: [_el_str(e) for e in p]):
            cur = _get(live, p, types)
            want = _get(applied, p, types)
            if cur is _MISSING or _same(cur, want, p):
                continue
            conflicts.append((x["entry"].get("manager", ""), path_string(p)))
            described.append((_describe(x["entry"]), path_string(p)))
            conflict_paths.add(p)
    if conflicts and not force:
        raise ApplyConflict(conflicts, described)
    for x in entries:
        if x is not mine:
            x["set"] -= conflict_paths

    # fields this manager applied before but not now, owned by nobody else, are removed
    others = set()
    for x in entries:
        if x is not mine:
            others |= x["set"]
    drop = [p for p in prev - applied_set
            if p not in others and not any(o[:len(p)] == p for o in others if len(o) > len(p))]
    dropped = set(drop)
    # delete whole items/subtrees first-hand: their children's paths no longer resolve after
    builtin = not (registry is not None and hasattr(registry, "is_crd") and registry.is_crd(gvk))
    for p in sorted(drop, key=len):
        if not any(p[:i] in dropped for i in range(1, len(p))):
            _delete(base, p, types)
            # built-in types omit empty maps and lists when serialized (omitempty)
            for i in range(len(p) - 1, 0, -1) if builtin else ():
                v = _get(base, p[:i], types)
                if v in ({}, []) and p[i - 1][0] == "f":
                    _delete(base, p[:i], types)
                else:
                    break

    merged = _merge(base, applied, types, ())
    if mine is None:
        mine = {"entry": {"manager": manager, "operation": "Apply"}, "set": set()}
        if subresource:
            mine["entry"]["subresource"] = subresource
        entries.append(mine)
    mine["set"] = set(applied_set)
    mine["entry"]["apiVersion"] = _api_version(gvk)
    # a no-op apply leaves the object, and so the manager's timestamp, as it was
    if not (live and mine["entry"].get("time") and _without_mf(merged) == _without_mf(live)):
        mine["entry"]["time"] = now
    final_set = _present(merged, types)
    for x in entries:
        x["set"] = {p for p in x["set"] if p in final_set}
    return _write_entries(merged, entries)


def _without_mf(obj):
    o = dict(obj)
    o["metadata"] = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return o


def _drop_nulls(v):
    if isinstance(v, dict):
        return {k: _drop_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_drop_nulls(x) for x in v]
    return v


def _merge(live, applied, types, fpath):
    if isinstance(live, dict) and isinstance(applied, dict):
        if fpath and types.atomic_map(fpath):
            return copy.deepcopy(applied)
        out = dict(live)
        for k, v in applied.items():
            out[k] = _merge(live.get(k, _MISSING), v, types, fpath + (k,))
        return out
    if isinstance(live, list) and isinstance(applied, list):
        kind, keys = types.list_kind(fpath, applied)
        if kind == "map" and all(isinstance(x, dict) for x in live + applied):
            out = list(live)
            for item in applied:
                k = _item_key(types, fpath, keys, item)
                idx = next((i for i, o in enumerate(out) if _item_key(types, fpath, keys, o) == k), None)
                if idx is None:
                    out.append(copy.deepcopy(item))
                else:
                    out[idx] = _merge(out[idx], item, types, fpath)
            return out
        if kind == "set":
            out = list(live)
            for x in applied:
                if x not in out:
                    out.append(copy.deepcopy(x))
            return out
    return copy.deepcopy(applied)


def _delete(obj, path, types):
    """Remove the value at path from obj (in place); parents are kept."""
    if not path:
        return
    parent = _get(obj, path[:-1], types) if len(path) > 1 else obj
    if parent is _MISSING:
        return
    t, v = path[-1]
    fpath = tuple(e[1] for e in path[:-1] if e[0] == "f")
    if t == "f" and isinstance(parent, dict):
        parent.pop(v, None)
    elif t == "k" and isinstance(parent, list):
        _, keys = types.list_kind(fpath, parent)
        keys = keys or list(json.loads(v))
        parent[:] = [x for x in parent if not (isinstance(x, dict) and _item_key(types, fpath, keys, x) == v)]
    elif t == "v" and isinstance(parent, list):
        val = json.loads(v)
        parent[:] = [x for x in parent if x != val]
