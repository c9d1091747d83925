"""CustomResourceDefinition controller emulation: names, conditions, serving, cleanup.

Runs as the after-write hook of the CRD resource (inside the store lock), the way the
apiextensions controllers would react a moment later in a real server."""
import copy
import re

from .api import now
from .builtins import CRD_FINALIZER
from .resources import Resource

CRD_GR = ("apiextensions.k8s.io", "customresourcedefinitions")


def version_priority(v):
    """Kubernetes version ordering: GA > beta > alpha, higher numbers first, others last."""
    m = re.match(r"^v(\d+)(?:(alpha|beta)(\d+))?$", v)
    if not m:
        return (3, 0, 0, v)
    major, kind, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    rank = {None: 0, "beta": 1, "alpha": 2}[kind]
    return (rank, -major, -minor, v)


def _resources_for(crd):
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    out = []
    for v in spec.get("versions") or []:
        if not v.get("served", True):
            continue
        sub = v.get("subresources") or {}
        r = Resource(spec["group"], v["name"], names["plural"],
                     names.get("singular") or names["kind"].lower(), names["kind"],
                     spec.get("scope") == "Namespaced", names.get("shortNames") or [],
                     names.get("categories") or [], status="status" in sub, builtin=False,
                     crd_name=crd["metadata"]["name"], generation=True,
                     field_labels=[f.get("jsonPath", "").lstrip(".") for f in v.get("selectableFields") or []])
        r.storage = bool(v.get("storage"))
        out.append(r)
    return out


def _names_conflict(api, crd):
    spec = crd["spec"]
    for other in api.store.list(CRD_GR)[0]:
        if other["metadata"]["name"] == crd["metadata"]["name"]:
            continue
        ospec = other.get("spec") or {}
        if ospec.get("group") != spec["group"]:
            continue
        on = ospec.get("names") or {}
        if on.get("kind") == spec["names"]["kind"]:
            return "KindConflict", '"%s" is already in use' % spec["names"]["kind"]
    return None


def _condition(type_, status_, reason, message, old_conds):
    for c in old_conds:
        if c.get("type") == type_ and c.get("status") == status_:
            return dict(c, reason=reason, message=message)
    return {"type": type_, "status": status_, "lastTransitionTime": now(), "reason": reason,
            "message": message}


def on_crd_write(api, res, old, new):
    if new is None:
        _unserve(api, old)
        return
    name = new["metadata"]["name"]
    if new["metadata"].get("deletionTimestamp"):
        if CRD_FINALIZER in (new["metadata"].get("finalizers") or []):
            _unserve(api, new)
            obj = copy.deepcopy(new)
            obj["metadata"]["finalizers"] = [f for f in obj["metadata"]["finalizers"] if f != CRD_FINALIZER]
            api.internal_update(CRD_GR, obj, "apiextensions-controller")
        return
    spec = new["spec"]
    names = dict(spec["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", names["kind"] + "List")
    conds = (new.get("status") or {}).get("conditions") or []
    clash = _names_conflict(api, new)
    if clash:
        want = [_condition("NamesAccepted", "False", clash[0], clash[1], conds),
                _condition("Established", "False", "NotAccepted", "not all names are accepted", conds)]
        accepted = {"plural": "", "kind": ""}
    else:
        want = [_condition("NamesAccepted", "True", "NoConflicts", "no conflicts found", conds),
                _condition("Established", "True", "InitialNamesAccepted",
                           "the initial names have been accepted", conds)]
        accepted = names
        api.reg.remove_crd(name)
        for r in _resources_for(new):
            api.reg.add(r)
        api.reg.set_versions_order(spec["group"], sorted(
            [v["name"] for v in spec.get("versions") or [] if v.get("served", True)], key=version_priority))
        api.schemas.add_crd(new)
    st = copy.deepcopy(new.get("status") or {})
    stored_versions = list(st.get("storedVersions") or [])
    for v in spec.get("versions") or []:
        if v.get("storage") and v["name"] not in stored_versions:
            stored_versions.append(v["name"])
    st.update({"conditions": want, "acceptedNames": accepted, "storedVersions": stored_versions})
    if st != new.get("status"):
        obj = copy.deepcopy(new)
        obj["status"] = st
        api.internal_update(CRD_GR, obj, "kube-apiserver", sub="status")


def _unserve(api, crd):
    spec = crd.get("spec") or {}
    api.store.drop_group_resource((spec.get("group"), (spec.get("names") or {}).get("plural")))
    api.reg.remove_crd(crd["metadata"]["name"])
    api.schemas.remove_crd(crd["metadata"]["name"])


def install(api):
    api.after_write[CRD_GR] = on_crd_write
