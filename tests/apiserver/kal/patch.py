"""JSON patch (RFC 6902), JSON merge patch (RFC 7386) and Kubernetes strategic merge patch.

All functions return a new document and never modify their arguments. Failures raise
PatchError(code, reason, message); messages follow the Go libraries the apiserver uses
(evanphx/json-patch, apimachinery strategicpatch) closely enough for clients to print.
"""
import copy
import json

_MISSING = object()


class PatchError(Exception):
    def __init__(self, code, reason, message):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message


def _bad(msg):
    return PatchError(400, "BadRequest", msg)


def _invalid(msg):
    return PatchError(422, "Invalid", msg)


# ---- RFC 6902 --------------------------------------------------------------------------------
def _pointer(path):
    if path == "":
        return []
    if not isinstance(path, str) or not path.startswith("/"):
        raise _bad("invalid JSON pointer %s" % json.dumps(path))
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(tok, n, allow_end, path):
    if tok == "-" and allow_end:
        return n
    if not tok.isdigit() or (len(tok) > 1 and tok[0] == "0"):
        raise _invalid("invalid index %s in path %s" % (json.dumps(tok), json.dumps(path)))
    i = int(tok)
    if i > n or (i == n and not allow_end):
        raise _invalid("index %d out of bounds for path %s" % (i, json.dumps(path)))
    return i


def _parent(doc, toks, path, op):
    cur = doc
    for t in toks[:-1]:
        if isinstance(cur, dict) and t in cur:
            cur = cur[t]
        elif isinstance(cur, list) and t.isdigit() and int(t) < len(cur):
            cur = cur[int(t)]
        else:
            raise _invalid("%s operation does not apply: doc is missing path: %s: missing value"
                           % (op, json.dumps(path)))
    return cur


def _get(doc, path):
    cur = doc
    for t in _pointer(path):
        if isinstance(cur, dict) and t in cur:
            cur = cur[t]
        elif isinstance(cur, list) and t.isdigit() and int(t) < len(cur):
            cur = cur[int(t)]
        else:
            return _MISSING
    return cur


def _add(doc, path, value, op="add"):
    toks = _pointer(path)
    if not toks:
        return value
    par = _parent(doc, toks, path, op)
    last = toks[-1]
    if isinstance(par, dict):
        par[last] = value
    elif isinstance(par, list):
        par.insert(_index(last, len(par), True, path), value)
    else:
        raise _invalid("%s operation does not apply: doc is missing path: %s: missing value"
                       % (op, json.dumps(path)))
    return doc


def _remove(doc, path, op="remove"):
    toks = _pointer(path)
    if not toks:
        raise _invalid("%s operation does not apply: doc is missing path: \"\": missing value" % op)
    par = _parent(doc, toks, path, op)
    last = toks[-1]
    if isinstance(par, dict):
        if last not in par:
            raise _invalid("Unable to remove nonexistent key: %s: missing value" % last)
        return par.pop(last)
    if isinstance(par, list):
        return par.pop(_index(last, len(par), False, path))
    raise _invalid("%s operation does not apply: doc is missing path: %s: missing value"
                   % (op, json.dumps(path)))


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise _bad("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            raise _bad("Unexpected kind: %s" % json.dumps(op))
        kind = op["op"]
        path = op.get("path")
        if path is None:
            raise _bad("%s operation missing path" % kind)
        if kind == "add":
            if "value" not in op:
                raise _bad("add operation missing value")
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            if "value" not in op:
                raise _bad("replace operation missing value")
            if _get(doc, path) is _MISSING:
                raise _invalid("replace operation does not apply: doc is missing key: %s: missing value"
                               % path)
            if path == "":
                doc = copy.deepcopy(op["value"])
            else:
                _remove(doc, path, "replace")
                doc = _add(doc, path, copy.deepcopy(op["value"]), "replace")
        elif kind in ("move", "copy"):
            frm = op.get("from")
            if frm is None:
                raise _bad("%s operation missing from" % kind)
            val = _get(doc, frm)
            if val is _MISSING:
                raise _invalid("%s operation does not apply: doc is missing from path: %s: missing value"
                               % (kind, frm))
            if kind == "move":
                if path != frm and path.startswith(frm + "/"):
                    raise _invalid("move operation does not apply: from path is a prefix of path")
                _remove(doc, frm, "move")
            doc = _add(doc, path, copy.deepcopy(val), kind)
        elif kind == "test":
            cur = _get(doc, path)
            want = op.get("value")
            if cur is _MISSING and want is None:
                continue
            if cur is _MISSING or not _json_equal(cur, want):
                raise _invalid("testing value %s failed: test failed" % path)
        else:
            raise _bad("Unexpected kind: %s" % kind)
    return doc


def _json_equal(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


# ---- RFC 7386 --------------------------------------------------------------------------------
def merge_patch(doc, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(doc) if isinstance(doc, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# ---- strategic merge patch ---------------------------------------------------------------------
_SET_ORDER = "$setElementOrder/"
_DEL_PRIM = "$deleteFromPrimitiveList/"


def strategic_merge_patch(doc, patch, registry, gvk):
    if not isinstance(patch, dict):
        raise _bad("unable to unmarshal patch into a map: the patch is not a JSON object")
    out = _smp_map(copy.deepcopy(doc) if isinstance(doc, dict) else {}, patch, registry, gvk, ())
    return {} if out is None else out


def _info(registry, gvk, path):
    if registry is None or not path:
        return None
    try:
        return registry.merge_info(gvk, list(path))
    except Exception:  # a registry without this kind behaves like no schema: replace
        return None


def _smp_map(orig, patch, reg, gvk, path):
    """Merge patch (a dict) into orig (a dict, owned). Returns None when the map is deleted."""
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return _strip(patch, reg, gvk, path)
    if directive not in (None, "merge"):
        raise _bad("Unknown patch type: %s" % json.dumps(directive))
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys") or k.startswith(_SET_ORDER):
            continue
        if k.startswith(_DEL_PRIM):
            field = k[len(_DEL_PRIM):]
            if isinstance(orig.get(field), list) and isinstance(v, list):
                orig[field] = [x for x in orig[field] if x not in v]
            continue
        if v is None:
            orig.pop(k, None)
            continue
        sub = path + (k,)
        cur = orig.get(k, _MISSING)
        info = _info(reg, gvk, sub)
        if isinstance(v, dict):
            # maps merge unless the field's patch strategy says replace; x-kubernetes-map-type
            # is an apply (SSA) notion that strategic merge ignores
            if info and "replace" in (info.get("patch_strategy") or "").split(",") and v.get("$patch") is None:
                orig[k] = _strip(v, reg, gvk, sub)
                continue
            res = _smp_map(cur if isinstance(cur, dict) else {}, v, reg, gvk, sub)
            if res is None:
                orig.pop(k, None)
            else:
                orig[k] = res
        elif isinstance(v, list):
            order = patch.get(_SET_ORDER + k)
            orig[k] = _smp_list(cur if isinstance(cur, list) else [], v, reg, gvk, sub, info, order)
        else:
            orig[k] = copy.deepcopy(v)
    for k, order in patch.items():
        if k.startswith(_SET_ORDER) and k[len(_SET_ORDER):] not in patch:
            field = k[len(_SET_ORDER):]
            if isinstance(orig.get(field), list):
                orig[field] = _reorder(orig[field], order, _info(reg, gvk, path + (field,)))
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        for k in list(orig):
            if k not in retain:
                del orig[k]
    return orig


def _strip(v, reg, gvk, path):
    """A value as it is stored: directives removed (what a patch adds to a missing field)."""
    if isinstance(v, dict):
        if v.get("$patch") == "delete":
            return None
        out = {}
        for k, x in v.items():
            if k.startswith("$"):
                continue
            if x is None:
                continue
            s = _strip(x, reg, gvk, path + (k,))
            if s is not None or not isinstance(x, dict):
                out[k] = s
        return out
    if isinstance(v, list):
        return [_strip(x, reg, gvk, path) for x in v
                if not (isinstance(x, dict) and x.get("$patch") in ("delete", "replace"))]
    return v


def _merge_key(info):
    if not info:
        return None
    strat = info.get("patch_strategy") or ""
    if "merge" not in strat.split(","):
        return None
    return info.get("patch_merge_key") or ""


def _smp_list(orig, plist, reg, gvk, path, info, order):
    key = _merge_key(info)
    if key is None:
        return _strip(plist, reg, gvk, path)
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in plist):
        return [_strip(x, reg, gvk, path) for x in plist
                if not (isinstance(x, dict) and x.get("$patch") == "replace")]
    maps = [x for x in plist if isinstance(x, dict)]
    if key == "" or (not maps and not any(isinstance(x, dict) for x in orig)):
        # set-like list of primitives: union, order from orig then new
        out = list(orig)
        for x in plist:
            if x not in out:
                out.append(copy.deepcopy(x))
        return _reorder(out, order, info) if order is not None else out
    out = list(orig)
    for item in plist:
        if not isinstance(item, dict):
            raise _bad("found non-map element in a list merged by key %s" % key)
        if key not in item:
            raise _bad("map: %s does not contain declared merge key: %s" % (_go_map(item), key))
        kv = item[key]
        idx = next((i for i, o in enumerate(out) if isinstance(o, dict) and o.get(key) == kv), None)
        if item.get("$patch") == "delete":
            out = [o for o in out if not (isinstance(o, dict) and o.get(key) == kv)]
            continue
        if idx is None:
            out.append(_strip(item, reg, gvk, path))
        else:
            merged = _smp_map(copy.deepcopy(out[idx]), item, reg, gvk, path)
            if merged is None:
                del out[idx]
            else:
                out[idx] = merged
    return _reorder(out, order, info) if order is not None else out


def _reorder(items, order, info):
    """Apply $setElementOrder: listed elements take the given order, the rest keep their place
    relative to the listed ones that precede them in the current list."""
    if not isinstance(order, list):
        return items
    key = (info or {}).get("patch_merge_key")

    def ident(x):
        if isinstance(x, dict):
            return json.dumps(x.get(key), sort_keys=True)
        return json.dumps(x, sort_keys=True)

    wanted = [ident(x) for x in order]
    listed = sorted([x for x in items if ident(x) in wanted], key=lambda x: wanted.index(ident(x)))
    out = []
    it = iter(listed)
    for x in items:
        out.append(next(it) if ident(x) in wanted else x)
    return out


def _go_map(m):
    return "map[" + " ".join("%s:%s" % (k, v) for k, v in sorted(m.items())) + "]"
