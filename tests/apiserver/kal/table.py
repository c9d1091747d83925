"""meta.k8s.io/v1 Table answers for custom resources (what `kubectl get` asks for first).

Custom resources get their CRD's additionalPrinterColumns (or NAME/AGE when none), like the
apiextensions table convertor. Built-ins answer plain JSON: kubectl then uses its own printers
for them, which show the same columns the real server would send."""
import datetime
import json
import re

def wants_table(accept):
    return bool(accept) and "as=Table" in accept and "g=meta.k8s.io" in accept


def _age(ts):
    try:
        t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return "<unknown>"
    s = int((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())
    if s < 120:
        return "%ds" % max(s, 0)
    if s < 600:
        return "%dm%ds" % (s // 60, s % 60) if s % 60 else "%dm" % (s // 60)
    if s < 3 * 3600:
        return "%dm" % (s // 60)
    if s < 48 * 3600:
        return "%dh" % (s // 3600)
    return "%dd" % (s // 86400)


def _jsonpath(obj, path):
    """The subset printer columns use: .a.b, [n], [?(@.k=="v")]."""
    cur = [obj]
    for tok in re.findall(r'\.([A-Za-z0-9_-]+)|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_-]+)==["\']([^"\']*)["\']\)\]', path):
        name, idx, fk, fv = tok
        nxt = []
        for c in cur:
            if name and isinstance(c, dict) and name in c:
                nxt.append(c[name])
            elif idx and isinstance(c, list) and int(idx) < len(c):
                nxt.append(c[int(idx)])
            elif fk and isinstance(c, list):
                nxt.extend(i for i in c if isinstance(i, dict) and str(i.get(fk)) == fv)
        cur = nxt
    return cur


def columns(crd_version):
    cols = crd_version.get("additionalPrinterColumns") if crd_version else None
    if not cols:
        cols = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
    return cols


def _cell(obj, col):
    vals = _jsonpath(obj, col.get("jsonPath", ""))
    if not vals:
        return None
    v = vals[0]
    if col.get("type") == "date":
        return _age(v)
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    return v


def _row(obj, cols):
    md = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    return {"cells": [obj["metadata"]["name"]] + [_cell(obj, c) for c in cols],
            "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": md}}


def definitions(cols):
    out = [{"name": "Name", "type": "string", "format": "name", "priority": 0,
            "description": "Name must be unique within a namespace."}]
    for c in cols:
        out.append({"name": c["name"], "type": "string" if c.get("type") == "date" else c.get("type", "string"),
                    "format": c.get("format", ""), "description": c.get("description", ""),
                    "priority": c.get("priority", 0)})
    return out


def table(objs, cols, list_meta=None, with_defs=True):
    t = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta or {},
         "columnDefinitions": definitions(cols) if with_defs else None,
         "rows": [_row(o, cols) for o in objs]}
    return t
