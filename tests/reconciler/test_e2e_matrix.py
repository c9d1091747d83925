"""The foreign-edit matrix (issue 14), end to end against the test API server with one
meshclusterd. The cells come from the controller itself: `meshctl render` lists every object
the daemon manages for cluster1 (MeshClusters cluster1 and cluster2) and the fields it sets;
nothing here names an object.

  foreign: every managed object x {delete it; change an owned field (a person: kubectl-patch);
    remove an owned field (kubectl-patch); add a colliding list entry (lists keyed by
    port+protocol: Service ports); change an owned field through another field manager with
    Update; the same with Apply (force); change a field nobody owns} ->
    the expected end state within 2 s (the rendered body a subset of the live object; an object
    that is not ours to create stays deleted), or exactly one reported conflict (a False
    condition of its MeshCluster and one Warning Event naming the object). Writes are counted
    in the server's request log per object: a heal costs at most 2, and in the 5 s after a
    round the daemon writes nothing at all. Cells of one operation run at once, on different
    objects; between rounds the test undoes what a conflict left and waits for Ready.
  spec: every MeshCluster spec field edited once -> the live objects become what `meshctl
    render` of the live MeshClusters says, and then the daemon writes nothing.

The mutations go straight to the API (HTTP, as kubectl sends them, with kubectl's field-manager
names for a person's edits) so that a round's cells start together. Prints the cells checked.
"""
import base64
import copy
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as L  # noqa: E402
from edits_lib import check, running  # noqa: E402

MESHCTL = os.path.join(L.BUILD, "meshctl")
HEAL_WINDOW = 2.0
QUIET = 5.0
PLURAL = {"Service": "services", "Secret": "secrets", "ConfigMap": "configmaps",
          "Namespace": "namespaces", "Gateway": "gateways"}
MARKERS = ("app.kubernetes.io/managed-by", "meshcluster.io/cluster")
CONFLICT_REASONS = ("ApplyConflict", "MeshNetworksConflict")


# ---- the API, directly -------------------------------------------------------------------
class Api:
    def __init__(self, c):
        self.url = c.info["url"]
        self.token = c.info["token"]
        self.ctx = ssl.create_default_context(cafile=c.info["ca_file"])

    def call(self, method, path, body=None, ctype="application/json", query=""):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path + (("?" + query) if query else ""), data=data,
                                     method=method,
                                     headers={"Authorization": "Bearer " + self.token,
                                              "Content-Type": ctype, "User-Agent": "matrix-test"})
        try:
            with urllib.request.urlopen(req, timeout=10, context=self.ctx) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def get(self, path):
        code, obj = self.call("GET", path)
        return obj if code == 200 else None


def pointer(path):
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in path)


def dig(obj, path):
    for p in path:
        if not isinstance(obj, dict) or p not in obj:
            return None
        obj = obj[p]
    return obj


def nest(path, value):
    out = value
    for p in reversed(path):
        out = {p: out}
    return out


def subset(want, have):
    """controller/subset.c's rule: lists of objects match as sets, scalars in order."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and subset(v, have[k]) for k, v in want.items())
    if isinstance(want, list):
        if not isinstance(have, list) or len(want) != len(have):
            return False
        if want and isinstance(want[0], dict):
            used = set()
            for w in want:
                i = next((i for i, h in enumerate(have) if i not in used and subset(w, h)), None)
                if i is None:
                    return False
                used.add(i)
            return True
        return all(subset(w, h) for w, h in zip(want, have))
    return want == have


# ---- the controller's own list of managed objects -----------------------------------------
class Managed:
    def __init__(self, body):
        md = body["metadata"]
        self.kind, self.name, self.ns = body["kind"], md["name"], md.get("namespace")
        self.labels = md.get("labels") or {}
        self.ours = self.labels.get("app.kubernetes.io/managed-by") == "meshcluster-controller"
        self.cluster = self.labels.get("meshcluster.io/cluster", "cluster1")
        self.api_version = body["apiVersion"]
        prefix = "/api/v1" if "/" not in self.api_version else "/apis/" + self.api_version
        self.path = prefix + ("/namespaces/%s" % self.ns if self.ns else "") + "/%s/%s" % (
            PLURAL[self.kind], self.name)
        self.desired = {k: v for k, v in body.items() if k not in ("apiVersion", "kind")}
        # Create-only: the Tailscale operator owns an egress Service's externalName.
        if self.kind == "Service" and "tailscale.com/tailnet-fqdn" in (md.get("annotations") or {}):
            self.desired["spec"].pop("externalName", None)
        self.field = self.owned_field(body)

    def __repr__(self):
        return "%s %s/%s" % (self.kind, self.ns or "", self.name)

    @staticmethod
    def owned_field(body):
        """An owned leaf to change: an annotation, a label that is not a marker, a data key, a
        selector key, an externalName: the first the body sets."""
        md = body["metadata"]
        for k in sorted(md.get("annotations") or {}):
            return ["metadata", "annotations", k]
        for k in sorted(md.get("labels") or {}):
            if k not in MARKERS:
                return ["metadata", "labels", k]
        for k in sorted(body.get("data") or {}):
            return ["data", k]
        spec = body.get("spec") or {}
        for k in sorted(spec.get("selector") or {}):
            return ["spec", "selector", k]
        if "externalName" in spec:
            return ["spec", "externalName"]
        raise AssertionError("no owned field to change in %r" % md)

    def removable_field(self):
        """Ours: our cluster label (the object leaves our label-selected cache); others': the
        field we contribute."""
        return ["metadata", "labels", "meshcluster.io/cluster"] if self.ours else self.field

    def other_value(self):
        v = dig(self.desired, self.field)
        if self.kind == "Secret" and self.field[0] == "data":
            return base64.b64encode(b"foreign").decode()
        return (v or "") + "-foreign" if self.field[0] != "data" else "foreign: true"


def managed_objects(c, tmp):
    d = os.path.join(tmp, "render")
    os.makedirs(d, exist_ok=True)
    out = c.kubectl("get", "meshclusters", "-o", "json").stdout
    for i, mc in enumerate(json.loads(out)["items"]):
        mc.pop("status", None)
        md = mc["metadata"]
        mc["metadata"] = {"name": md["name"]}
        with open(os.path.join(d, "mc%d.json" % i), "w") as f:
            json.dump(mc, f)
    tokens = []
    for s in json.loads(c.kubectl("get", "secrets", "-n", "tailscale", "-o", "json").stdout)["items"]:
        if s["metadata"]["name"].endswith("-token"):
            tokens += ["--token", "%s=%s" % (s["metadata"]["name"][:-len("-token")],
                                             base64.b64decode(s["data"]["token"]).decode())]
    p = subprocess.run([MESHCTL, "render", "--cluster", "cluster1", "-f", d, "-o", "json"] + tokens,
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 0, "meshctl render: " + p.stderr)
    return [Managed(o) for o in json.loads(p.stdout)["items"]]


# ---- observations ------------------------------------------------------------------------
def writes_by_path(c):
    out = {}
    for r in c.daemon_writes():
        out.setdefault(r["path"].split("?")[0].rstrip("/"), []).append((r["method"], r["code"]))
    return out


def conflict_events(api, obj):
    evs = (api.get("/api/v1/namespaces/default/events") or {}).get("items") or []
    where = "%s %s/%s:" % (obj.kind, obj.ns or "", obj.name)
    return sum(e.get("count") or 1 for e in evs
               if e.get("reason") in CONFLICT_REASONS and where in (e.get("message") or ""))


def conflict_condition(api, obj):
    mc = api.get("/apis/meshcluster.io/v1alpha1/meshclusters/" + obj.cluster) or {}
    return any(x["status"] == "False" and ("Conflict" in x["reason"] or "Conflict" in x["message"])
               for x in (mc.get("status") or {}).get("conditions") or [])


def healed(api, obj):
    return subset(obj.desired, api.get(obj.path))


# ---- operations: (name, applies to, mutate, expectation) ----------------------------------
def op_delete(api, o):
    return api.call("DELETE", o.path)


def op_change(api, o, manager="kubectl-patch"):
    return api.call("PATCH", o.path, [{"op": "replace", "path": pointer(o.field), "value": o.other_value()}],
             "application/json-patch+json", "fieldManager=" + manager)


def op_remove(api, o):
    return api.call("PATCH", o.path, [{"op": "remove", "path": pointer(o.removable_field())}],
             "application/json-patch+json", "fieldManager=kubectl-patch")


def op_collide(api, o):
    """What issue 14.1 did: renumber one of our entries in place. The entry keeps our name under
    another key (port+protocol), so it collides with ours when ours is applied again. (Adding a
    second entry with our name is refused by the API server's validation.)"""
    return api.call("PATCH", o.path, [{"op": "replace", "path": "/spec/ports/0/port", "value": 9999}],
                    "application/json-patch+json", "fieldManager=kubectl-patch")


def op_update(api, o):
    return op_change(api, o, "matrix-controller")


def apply_field(api, o, value, manager="matrix-applier"):
    body = {"apiVersion": o.api_version, "kind": o.kind,
            "metadata": {"name": o.name, **({"namespace": o.ns} if o.ns else {})}}
    inner = nest(o.field, value)
    for k, v in inner.items():
        body[k] = {**body.get(k, {}), **v} if isinstance(v, dict) and k in body else v
    return api.call("PATCH", o.path, body, "application/apply-patch+yaml",
                    "fieldManager=%s&force=true" % manager)


def op_apply(api, o):
    return apply_field(api, o, o.other_value())


def op_unowned(api, o):
    return api.call("PATCH", o.path, {"metadata": {"annotations": {"example.com/matrix": "nobody"}}},
             "application/merge-patch+json", "fieldManager=matrix-other")


OPS = [
    ("delete", lambda o: o.kind != "Namespace", op_delete),
    ("change-owned", lambda o: True, op_change),
    ("remove-owned", lambda o: True, op_remove),
    ("colliding-entry", lambda o: o.kind == "Service", op_collide),
    ("other-manager-update", lambda o: True, op_update),
    ("other-manager-apply", lambda o: True, op_apply),
    ("unowned-field", lambda o: True, op_unowned),
]


def expect(api, name, o, before):
    """'healed', 'conflict' or None (not yet) for cell (name, o)."""
    live = api.get(o.path)
    if name == "delete" and not o.ours:
        return "absent" if live is None else None  # never created by us
    if name == "unowned-field":
        ok = live is not None and dig(live, ["metadata", "annotations", "example.com/matrix"]) == "nobody"
        return "healed" if ok and subset(o.desired, live) else None
    if live is not None and subset(o.desired, live):
        return "healed"
    if name.startswith("other-manager") and conflict_events(api, o) > before[o] and \
            conflict_condition(api, o):
        return "conflict"
    return None


def restore(c, api, name, objs, results):
    """Undo what a round left that the daemon rightly does not: a deleted object that is not
    ours, a field another manager holds with its value (given our value back by that manager)."""
    for o in objs:
        if name == "delete" and not o.ours and o.kind == "ConfigMap":
            c.kubectl("create", "configmap", o.name, "-n", o.ns, "--from-literal=mesh=defaultConfig: {}")
        elif results.get(o) == "conflict" and name == "other-manager-update":
            api.call("PATCH", o.path, [{"op": "replace", "path": pointer(o.field),
                                        "value": dig(o.desired, o.field)}],
                     "application/json-patch+json", "fieldManager=matrix-controller")
        elif results.get(o) == "conflict" and name == "other-manager-apply":
            apply_field(api, o, dig(o.desired, o.field))
    L.wait_for("every object as desired after %s" % name,
               lambda: all(healed(api, o) for o in objs), 20)
    c.kubectl("wait", "--for=condition=Ready", "meshcluster", "--all", "--timeout=30s")


def run_round(c, api, name, applies, mutate, objs):
    cells = [o for o in objs if applies(o)]
    events_before = {o: conflict_events(api, o) for o in cells}
    c.clear_requests()
    started = {}
    for o in cells:
        started[o] = time.monotonic()
        code, answer = mutate(api, o)
        check(code < 300, "%s on %r: the edit itself failed: %s %r" % (name, o, code, answer))
    results, late = {}, []
    while len(results) < len(cells):
        for o in cells:
            if o not in results:
                r = expect(api, name, o, events_before)
                if r:
                    results[o] = r
                elif time.monotonic() - started[o] > HEAL_WINDOW:
                    results[o] = None
        time.sleep(0.05)
    for o in cells:
        if results[o] is None:
            late.append(o)
    check(not late, "%s: not healed within %.0f s nor reported: %r" % (name, HEAL_WINDOW, late))
    time.sleep(0.5)  # the last answers of the heal
    writes = writes_by_path(c)
    for o in cells:
        w = writes.get(o.path, [])
        limit = 0 if name == "unowned-field" or (name == "delete" and not o.ours) else 2
        check(len(w) <= limit, "%s on %r: %d writes %r (at most %d)" % (name, o, len(w), w, limit))
        if results[o] == "conflict":
            n = conflict_events(api, o) - events_before[o]
            check(n == 1, "%s on %r: %d conflict Events" % (name, o, n))
    c.clear_requests()
    time.sleep(QUIET)
    after = writes_by_path(c)
    check(not after, "%s: the daemon wrote in the %.0f s after: %r" % (name, QUIET, after))
    summary = {}
    for o in cells:
        summary[results[o]] = summary.get(results[o], 0) + 1
    print("  %-22s %2d cells: %s" % (name, len(cells), summary), flush=True)
    restore(c, api, name, cells, results)
    return len(cells)


def foreign():
    with running() as c:
        api = Api(c)
        objs = managed_objects(c, c.dir)
        check(len(objs) >= 8, "managed objects: %r" % objs)
        time.sleep(1.0)
        n = 0
        for name, applies, mutate in OPS:
            n += run_round(c, api, name, applies, mutate, objs)
        print("foreign-edit matrix: %d cells checked over %d objects x %d operations" % (n, len(objs), len(OPS)))


# ---- every MeshCluster spec field edited once ---------------------------------------------
SPEC_EDITS = [
    ("cluster1", {"network": "net-one"}),
    ("cluster2", {"locality": {"region": "eu-west", "zone": "eu-west-1a"}}),
    # Two regions now: the Helm values gain meshConfig.localityLbSetting (as rendered).
    ("cluster1", {"locality": {"region": "us-east", "failover": ["eu-west"]}}),
    ("cluster1", {"tailscale": {"eastWestGatewayHostname": "c1-ewgw"}}),
    ("cluster1", {"tailscale": {"gatewayTags": ["tag:ew", "tag:mesh"]}}),
    ("cluster1", {"tailscale": {"proxyClass": "small"}}),
    ("cluster2", {"tailscale": {"apiServerProxyHostname": "c2-api"}}),
    ("cluster2", {"tailscale": {"eastWestGatewayHostname": "c2-ewgw"}}),
    ("cluster1", {"gateway": {"ports": {"status": 16021}}}),
    ("cluster1", {"gateway": {"ports": {"tls": 25443}}}),
    ("cluster1", {"gateway": {"ports": {"istiod": 16012}}}),
    ("cluster1", {"gateway": {"ports": {"webhook": 16017}}}),
    ("cluster2", {"gateway": {"ports": {"tls": 26443}}}),
    ("cluster2", {"remoteSecret": {"server": "https://c2-api.example.ts.net:8443"}}),
    ("cluster2", {"remoteSecret": {"auth": "secret", "secretRef": {"name": "cluster2-token"}}}),
    ("cluster2", {"remoteSecret": {"secretRef": {"key": "token2"}}}),
    # The one namespace token Secrets may come from (--token-namespace), named explicitly.
    ("cluster2", {"remoteSecret": {"secretRef": {"namespace": "tailscale"}}}),
    ("cluster1", {"trust": {"rootCAFingerprint": ":".join(["AB"] * 32)}}),
    ("cluster2", {"tailscale": {"tailnet": "other-tailnet.ts.net"}}),
    ("cluster2", {"meshID": "mesh2"}),  # last: it rejects cluster2 (MeshIDConflict)
]


def spec():
    def token(c):
        c.kubectl("create", "secret", "generic", "cluster2-token", "-n", "tailscale",
                  "--from-literal=token=matrix-token", "--from-literal=token2=matrix-token")
        c.kubectl("label", "secret", "cluster2-token", "-n", "tailscale",
                  "meshcluster.io/remote-token=true")
    with running(before_daemon=token) as c:
        api = Api(c)
        fields = set()
        for mc, patch in SPEC_EDITS:
            c.kubectl("patch", "meshcluster", mc, "--type=merge", "-p", json.dumps({"spec": patch}))
            if "meshID" in patch:
                # Rejected (another mesh): nothing of it changes; render refuses the set.
                L.wait_for("%s rejected" % mc, lambda: any(
                    x["type"] == "Accepted" and x["status"] == "False" and x["reason"] == "MeshIDConflict"
                    for x in (c.get("meshcluster", mc).get("status") or {}).get("conditions") or []), 10)
            else:
                objs = managed_objects(c, c.dir)
                L.wait_for("objects as rendered after %s %s" % (mc, patch),
                           lambda: all(healed(api, o) for o in objs), 10)
            time.sleep(1.0)
            c.clear_requests()
            time.sleep(2.0)
            w = writes_by_path(c)
            check(not w, "writes after editing %s %s: %r" % (mc, patch, w))

            def leaves(d, pre):
                for k, v in d.items():
                    if isinstance(v, dict):
                        yield from leaves(v, pre + [k])
                    else:
                        yield ".".join(pre + [k])
            fields.update(leaves(patch, ["spec"]))
        c.clear_requests()
        time.sleep(QUIET)
        check(not writes_by_path(c), "writes in the final %.0f s" % QUIET)
        print("MeshCluster spec edits: %d fields edited once, objects as rendered, then 0 writes"
              % len(fields))


if __name__ == "__main__":
    {"foreign": foreign, "spec": spec}[sys.argv[1] if len(sys.argv) > 1 else "foreign"]()
