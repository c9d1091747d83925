"""Legacy discovery documents (/version, /api, /apis, group and group-version lists)."""
import hashlib

VERSION = {
    "major": "1", "minor": "32", "emulationMajor": "1", "emulationMinor": "32",
    "minCompatibilityMajor": "1", "minCompatibilityMinor": "31",
    "gitVersion": "v1.32.0", "gitCommit": "70d3cc986aa8221cd1dfb1121852688902d3bf53",
    "gitTreeState": "clean", "buildDate": "2024-12-11T17:59:15Z", "goVersion": "go1.23.3",
    "compiler": "gc", "platform": "linux/amd64",
}


def _svh(r):
    return hashlib.sha256(("%s/%s/%s" % (r.group, r.version, r.plural)).encode()).digest()[:8].hex()


def api_versions(host):
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}


def _group(g, versions):
    vs = [{"groupVersion": "%s/%s" % (g, v), "version": v} for v in versions]
    return {"name": g, "versions": vs, "preferredVersion": vs[0]}


def group_list(reg):
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(g, vs) for g, vs in reg.groups() if g and vs]}


def group(reg, name):
    for g, vs in reg.groups():
        if g == name and vs:
            return dict({"kind": "APIGroup", "apiVersion": "v1"}, **_group(g, vs))
    return None


def resource_list(reg, group_name, version):
    rs = sorted(reg.resources(group_name, version), key=lambda r: r.plural)
    if not rs:
        return None
    out = []
    for r in rs:
        e = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
             "kind": r.kind, "verbs": list(r.verbs)}
        if r.short_names:
            e["shortNames"] = list(r.short_names)
        if r.categories:
            e["categories"] = list(r.categories)
        e["storageVersionHash"] = _svh(r)
        out.append(e)
        if r.status:
            out.append({"name": r.plural + "/status", "singularName": "", "namespaced": r.namespaced,
                        "kind": r.kind, "verbs": ["get", "patch", "update"]})
    gv = version if not group_name else "%s/%s" % (group_name, version)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}
