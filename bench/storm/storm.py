"""Storm: random combinations of MeshCluster churn, foreign edits, faults and kill -9 thrown at
one meshclusterd, then its end state checked against `meshctl render` (issue 19, section 1).

Usage: storm.py [--seed S] [--ops N] [--kills K] [--server lite|real] [--steady S]
                [--kill-at I,J] [--no-faults] [--summary-out FILE]

One API server (tests/reconciler/e2e_lib.py: the lite one, or a real control plane) with the
Tailscale and istiod simulators, meshclusterd for cluster1. Then N operations, each drawn from
its own generator seeded by (seed, index), so a prefix of a storm replays exactly:
  - MeshClusters cluster1..cluster8 created, updated (server-side apply of a whole spec) and
    deleted, valid and invalid (a port used twice, auth "secret" without a Secret name, another
    meshID, ...: what the CRD admits and the controller must reject with a field path);
  - foreign edits of what `meshctl render` says the daemon manages: delete it, change an owned
    field, remove our label, renumber a Service port (a colliding entry), add a label, as a
    person does with kubectl;
  - edits of the `istio` ConfigMap (its mesh key, its meshNetworks by hand) and of the token
    Secrets of `auth: secret` MeshClusters (rotated, deleted, created again);
  - faults through a control API (the lite server's; on a real server the fault proxy's, which
    `real-cluster up --fault-proxy` puts in front of kube-apiserver and names in the cluster
    info as `proxy_control_url`; none with --no-faults or without it): watches dropped
    (clean and abrupt), history compacted with the watches dropped (410 on resume), 429 and 503
    bursts with and without Retry-After, latency for a few operations, the listener down for
    5-15 s (at most --outage-budget seconds in all);
  - --kills K kill -9 of the daemon at random operations (or at --kill-at), restarted at once.
The harness's own requests meet the same faults and retry through them.

Then faults are cleared and the oracle waits (at most --converge seconds) for:
  diffs       every object `meshctl render` makes of the live MeshClusters (with the live token
              Secrets) exists with the rendered fields and values, and our field manager owns no
              field outside them; every MeshCluster's status is at its generation; every
              MeshCluster render rejects has Accepted=False with the reason and field path
              render gives; every other one Accepted=True;
  orphans     no object of ours (managed-by label) that render does not make, none labelled
              for a rejected or deleted MeshCluster;
  duplicates  no two Services for one tailnet FQDN, no two remote Secrets for one cluster, no
              Service port twice, no condition type twice;
then --steady seconds (default 30) in which the daemon may not write at all (request log).
Prints `storm: seed=S ops=N kills=K faults=F diffs=D duplicates=U orphans=O steady_writes=W
seconds=T server=lite|real`, each divergence, and on failure the smallest replay it knows:
the seed and the last operation that touched what diverged. Exits 1 when D, U, O or W is not 0.
"""
import argparse
import base64
import datetime
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, help="default: today's UTC date as YYYYMMDD")
    ap.add_argument("--ops", type=int, default=200)
    ap.add_argument("--kills", type=int, default=1)
    ap.add_argument("--kill-at", help="operation indices to kill -9 the daemon before (overrides --kills)")
    ap.add_argument("--server", choices=("lite", "real"), default="lite")
    ap.add_argument("--steady", type=float, default=30.0, help="seconds of steady state, 0 writes")
    ap.add_argument("--converge", type=float, default=90.0, help="seconds to wait for the oracle")
    ap.add_argument("--outage-budget", type=float, default=15.0, help="listener-down seconds in all")
    ap.add_argument("--summary-out", help="also write the summary line to this file")
    ap.add_argument("--no-faults", dest="faults", action="store_false",
                    help="no faults (on a real server: no fault proxy in front of it)")
    a = ap.parse_args(argv)
    if a.seed is None:
        a.seed = int(datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d"))
    return a


ARGS = parse_args(sys.argv[1:])
os.environ["MC_TEST_SERVER"] = ARGS.server  # read by e2e_lib at import
sys.path.insert(0, os.path.join(REPO, "tests", "reconciler"))
import e2e_lib as L  # noqa: E402
import test_e2e_matrix as M  # noqa: E402  (Managed, subset, the edits: the matrix's reading of render)
from edits_lib import wait_quiet  # noqa: E402

LOCAL = "cluster1"
NAMES = ["cluster%d" % i for i in range(1, 9)]
TOKEN_NS = "tailscale"
MC_PATH = "/apis/meshcluster.io/v1alpha1/meshclusters"
OURS = "app.kubernetes.io/managed-by=meshcluster-controller"
MANAGER = "meshcluster-controller"
MESHCTL = os.path.join(L.BUILD, "meshctl")
RETRY_CODES = (429, 500, 502, 503, 504)


def cluster_by_name(o):
    """The MeshCluster an object of ours is for when a foreign edit removed its cluster label:
    the name render gives it says (X-k8s-operator, X-istio-eastwestgateway[-ts],
    istio-remote-secret-X). Such an object leaves the daemon's label-selected caches; what is
    kept for a rejected MeshCluster, or while a token cannot be read, stays without it."""
    name = o["metadata"]["name"]
    for suffix in ("-k8s-operator", "-istio-eastwestgateway-ts", "-istio-eastwestgateway"):
        if name.endswith(suffix) and o["kind"] == "Service":
            return name[:-len(suffix)]
    if o["kind"] == "Secret" and name.startswith("istio-remote-secret-"):
        return name[len("istio-remote-secret-"):]
    return None


# ---- the API, retrying through the storm's own faults ------------------------------------

class Api(M.Api):
    def call(self, method, path, body=None, ctype="application/json", query=""):
        deadline = time.monotonic() + 40
        while True:
            try:
                code, obj = super().call(method, path, body, ctype, query)
            except (urllib.error.URLError, ConnectionError, OSError, ValueError) as e:
                code, obj = 0, str(e)
            if code not in RETRY_CODES and code != 0 or time.monotonic() > deadline:
                return code, obj
            time.sleep(0.2)

    def items(self, path, query=""):
        code, obj = self.call("GET", path, query=query)
        if code != 200:
            raise AssertionError("GET %s: %s %r" % (path, code, obj))
        return obj.get("items") or []


def mc_body(name, spec, created=None):
    """A MeshCluster; created (its creationTimestamp) decides which of two conflicting claims
    wins (the older one), so render must have it as the daemon does."""
    md = {"name": name}
    if created:
        md["creationTimestamp"] = created
    return {"apiVersion": "meshcluster.io/v1alpha1", "kind": "MeshCluster", "metadata": md, "spec": spec}


def token_value(rng):
    return "storm" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(40))


# ---- the operations ----------------------------------------------------------------------
def valid_spec(rng, name):
    spec = {"network": rng.choice([name, "net-a", "net-b"]), "meshID": "mesh1",
            "tailscale": {"tailnet": "storm.ts.net"}}
    if rng.random() < 0.4:
        spec["gateway"] = {"ports": {"tls": rng.choice([15443, 25443, 35443])}}
    if rng.random() < 0.3:
        spec["tailscale"]["proxyClass"] = rng.choice(["common", "small"])
    if rng.random() < 0.3:
        spec["locality"] = {"region": rng.choice(["us-east", "eu-west"])}
    if name != LOCAL and rng.random() < 0.3:
        spec["remoteSecret"] = {"auth": "secret", "secretRef": {"name": name + "-token"}}
    return spec


def invalid_spec(rng, name):
    spec = valid_spec(rng, name)
    # The CRD's own rules refuse some (a 422: the model keeps the old spec); the set-level ones
    # (a hostname or network another MeshCluster claims, another meshID) only the controller.
    kind = rng.choice(["port-twice", "secret-no-name", "other-mesh", "bad-server", "bad-ports",
                       "hostname-taken", "network-conflict"])
    if kind == "hostname-taken" and name != LOCAL:
        spec["tailscale"]["apiServerProxyHostname"] = LOCAL + "-k8s-operator"
    elif kind == "network-conflict":
        spec["network"], spec["gateway"] = "net-a", {"ports": {"tls": 45443}}
    elif kind == "port-twice":
        spec["gateway"] = {"ports": {"tls": 15021}}
    elif kind == "secret-no-name":
        spec["remoteSecret"] = {"auth": "secret"}
    elif kind == "other-mesh" and name != LOCAL:
        spec["meshID"] = "mesh2"
    elif kind == "bad-server":
        spec["remoteSecret"] = {"server": "ftp://nowhere"}
    else:
        spec["gateway"] = {"ports": {"status": 15443, "tls": 15443}}
    return spec, kind


class Storm:
    def __init__(self, c, api, tmp, seed):
        self.c, self.api, self.tmp, self.seed = c, api, tmp, seed
        self.model = {LOCAL: valid_spec(random.Random("%d:init" % seed), LOCAL)}
        self.tokens = {}  # remote name -> token of its Secret, while it exists
        self.created = {}  # name -> creationTimestamp, from the server's answers
        # MeshClusters render accepted at some point since their creation: only those may have
        # objects while rejected ("nothing is changed for that cluster meanwhile", README).
        self.ever_valid = {LOCAL}
        # Names deleted after render accepted them, and those of them a kill -9 followed: the
        # daemon remembers in memory only which MeshCluster a rejected namesake's objects were
        # made for, so after a restart a deleted one's leftovers may stay (see reconcile_pass.h).
        self.deleted_accepted = set()
        self.may_keep = set()
        self.log = []  # (index, kind, subjects, detail)
        self.faults = 0
        self.base_watchers = None  # the daemon's open watches before the storm (lite server)
        self.kills = 0
        self.latency_ops = 0
        self.outage_left = ARGS.outage_budget
        # The lite server's control API, or the fault proxy's in front of a real server (same
        # paths and bodies); none when --no-faults, or on a real cluster without the proxy.
        self.fault_url = None
        if ARGS.faults:
            self.fault_url = self.c.info.get("proxy_control_url") if L.REAL else self.c.control

    # -- MeshClusters
    def apply_mc(self, name, spec):
        return self.api.call("PATCH", MC_PATH + "/" + name, mc_body(name, spec),
                             "application/apply-patch+yaml", "fieldManager=storm-user&force=true")

    def op_mc_apply(self, rng):
        name = rng.choice(NAMES)
        if rng.random() < 0.2:
            spec, why = invalid_spec(rng, name)
        else:
            spec, why = valid_spec(rng, name), "valid"
        code, obj = self.apply_mc(name, spec)
        if code < 300:
            self.model[name] = spec
            self.created[name] = ((obj or {}).get("metadata") or {}).get("creationTimestamp")
            self.note_valid()
        return [name], "apply %s %s -> %d" % (name, why, code)

    def op_mc_delete(self, rng):
        remotes = sorted(n for n in self.model if n != LOCAL)
        if not remotes:
            return self.op_mc_apply(rng)
        name = rng.choice(remotes)
        code, _ = self.api.call("DELETE", MC_PATH + "/" + name)
        self.model.pop(name, None)
        self.created.pop(name, None)
        if name in self.ever_valid:
            self.deleted_accepted.add(name)
        self.ever_valid.discard(name)
        return [name], "delete %s -> %d" % (name, code)

    def docs(self):
        return {n: mc_body(n, s, self.created.get(n)) for n, s in self.model.items()}

    def note_valid(self):
        docs = self.docs()
        _, rejected, _ = render(self.tmp, docs, self.tokens)
        accepted = set(self.model) - set(rejected)
        self.ever_valid |= accepted
        self.deleted_accepted -= accepted
        self.may_keep -= accepted

    # -- foreign edits of what the daemon manages (as render says for the model)
    def managed(self):
        objs, _, _ = render(self.tmp, self.docs(), self.tokens)
        return [M.Managed(o) for o in objs or []]

    def op_foreign(self, rng):
        objs = self.managed()
        if not objs:
            return [], "foreign: nothing managed"
        o = rng.choice(objs)
        kinds = ["change", "remove", "label"] + (["delete"] if o.ours else []) + \
            (["collide"] if o.kind == "Service" and "ports" in (o.desired.get("spec") or {}) else [])
        kind = rng.choice(kinds)
        if kind == "delete":
            code, _ = M.op_delete(self.api, o)
        elif kind == "change":
            code, _ = M.op_change(self.api, o)
        elif kind == "remove":
            code, _ = M.op_remove(self.api, o)
        elif kind == "collide":
            code, _ = M.op_collide(self.api, o)
        else:
            code, _ = self.api.call("PATCH", o.path, {"metadata": {"labels": {"storm.example/touched": str(rng.randint(0, 9))}}},
                                    "application/merge-patch+json", "fieldManager=kubectl-label")
        return [o.cluster, o.path], "foreign %s %r -> %d" % (kind, o, code)

    def op_istio_cm(self, rng):
        path = "/api/v1/namespaces/istio-system/configmaps/istio"
        if rng.random() < 0.5:
            body = {"data": {"mesh": "defaultConfig: {}\n# storm %d\n" % rng.randint(0, 999)}}
            what = "mesh key"
        else:
            body = {"data": {"meshNetworks": "networks: {}\n"}}
            what = "meshNetworks by hand"
        code, _ = self.api.call("PATCH", path, body, "application/merge-patch+json", "fieldManager=kubectl-edit")
        return [path], "istio ConfigMap %s -> %d" % (what, code)

    def op_token(self, rng):
        name = rng.choice(NAMES[1:])
        sname = name + "-token"
        path = "/api/v1/namespaces/%s/secrets/%s" % (TOKEN_NS, sname)
        if name in self.tokens and rng.random() < 0.3:
            code, _ = self.api.call("DELETE", path)
            self.tokens.pop(name, None)
            return [name, path], "token %s deleted -> %d" % (name, code)
        tok = token_value(rng)
        body = {"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": sname, "namespace": TOKEN_NS, "labels": {"meshcluster.io/remote-token": "true"}},
                "data": {"token": base64.b64encode(tok.encode()).decode()}}
        code, _ = self.api.call("PATCH", path, body, "application/apply-patch+yaml", "fieldManager=storm-user&force=true")
        if code < 300:
            self.tokens[name] = tok
        return [name, path], "token %s set -> %d" % (name, code)

    # -- faults
    def ctl(self, path, body):
        req = urllib.request.Request(self.fault_url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()

    def op_fault(self, rng):
        kind = rng.choice(["drop", "drop-abort", "410", "429", "503", "429-ra", "503-ra", "latency", "down"])
        if kind == "down" and self.outage_left < 5:
            kind = "drop"
        if kind in ("drop", "drop-abort"):
            self.ctl("/drop-watches", {"abort": kind == "drop-abort"})
        elif kind == "410":
            self.ctl("/compact", {})
            self.ctl("/drop-watches", {"abort": rng.random() < 0.5})
        elif kind in ("429", "503", "429-ra", "503-ra"):
            self.ctl("/fail", {"count": rng.randint(3, 15), "code": int(kind[:3]),
                               "retryAfter": 1 if kind.endswith("-ra") else None})
        elif kind == "latency":
            self.ctl("/latency", {"ms": rng.randint(50, 400)})
            self.latency_ops = rng.randint(2, 8)
        else:
            secs = min(self.outage_left, rng.uniform(5, 15))
            self.outage_left -= secs
            self.ctl("/listener", {"up": False})
            time.sleep(secs)
            self.ctl("/listener", {"up": True})
            kind = "down %.1fs" % secs
        self.faults += 1
        return ["*"], "fault " + kind

    def watchers(self):
        """The open client watches the fault API counts (None without one): after 503s on its
        watches an informer may back off for up to 30 s, unseen by the oracle's reads."""
        if not self.fault_url:
            return None
        return self.c.ctl("GET", "/state")["watchers"]

    def wait_watching(self):
        """The daemon's watch count once it holds still for 2 s (its informers are up)."""
        last, since = -1, time.monotonic()
        deadline = since + 30
        while time.monotonic() < deadline:
            n = self.watchers()
            if n != last:
                last, since = n, time.monotonic()
            elif n and time.monotonic() - since >= 2:
                return n
            time.sleep(0.2)
        raise AssertionError("the daemon's watches did not settle (%s)" % last)

    def clear_faults(self):
        if self.fault_url:
            self.ctl("/listener", {"up": True})
            self.ctl("/fail", {"clear": True})
            self.ctl("/latency", {"ms": 0})

    def kill(self):
        self.c.daemon.kill()
        self.c.daemon.wait()
        self.c.daemon = None
        self.c.start_daemon()
        self.kills += 1
        self.may_keep |= self.deleted_accepted

    def step(self, i):
        rng = random.Random("%d:%d" % (self.seed, i))
        ops = [(self.op_mc_apply, 4), (self.op_mc_delete, 1), (self.op_foreign, 3), (self.op_istio_cm, 1),
               (self.op_token, 1)]
        if self.fault_url:
            ops.append((self.op_fault, 2))
        fn = rng.choices([f for f, _ in ops], [w for _, w in ops])[0]
        subjects, detail = fn(rng)
        self.log.append((i, fn.__name__[3:], subjects, detail))
        if self.latency_ops and fn != self.op_fault:
            self.latency_ops -= 1
            if not self.latency_ops:
                self.ctl("/latency", {"ms": 0})
        time.sleep(rng.choice([0, 0, 0.02, 0.05, 0.1]))  # mid-pass, or after it


# ---- the oracle --------------------------------------------------------------------------
REJECT = re.compile(r'^MeshCluster "([^"]+)": Accepted=False (\S+): (\S+?): ', re.M)
NO_TOKEN = re.compile(r'^MeshCluster "([^"]+)": no token given', re.M)


def render(tmp, docs, tokens):
    """(objects, {rejected name: (reason, field)}, {names waiting for a token}) that `meshctl
    render` makes of docs (name -> MeshCluster) and tokens (name -> token). Render refuses a set
    with a rejected MeshCluster and names it: it is left out and the rest rendered again.
    Objects None: the local MeshCluster is rejected (and with it every decision)."""
    d = tempfile.mkdtemp(prefix="render-", dir=tmp)
    rejected = {}
    toks = []
    for n, t in sorted(tokens.items()):
        toks += ["--token", "%s=%s" % (n, t)]
    try:
        for _ in range(len(docs) + 1):
            for f in os.listdir(d):
                os.remove(os.path.join(d, f))
            for n, doc in docs.items():
                if n not in rejected:
                    with open(os.path.join(d, n + ".json"), "w") as f:
                        json.dump(doc, f)
            p = subprocess.run([MESHCTL, "render", "--cluster", LOCAL, "-f", d, "-o", "json"] + toks,
                               capture_output=True, text=True, timeout=30)
            if p.returncode == 0:
                return json.loads(p.stdout)["items"], rejected, set(NO_TOKEN.findall(p.stderr))
            found = {m[0]: (m[1], m[2]) for m in REJECT.findall(p.stderr)}
            if not set(found) - set(rejected):
                break
            rejected.update(found)
            if LOCAL in rejected or LOCAL not in docs:
                return None, rejected, set()
        raise AssertionError("meshctl render failed: " + p.stderr)
    finally:
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
        os.rmdir(d)


def fields_paths(fv1, pre=()):
    """The paths a fieldsV1 tree owns, stopping at list entries (k:, v:, i:)."""
    out = set()
    for k, v in (fv1 or {}).items():
        if k == ".":
            continue
        if k.startswith("f:"):
            p = pre + (k[2:],)
            out.add(p)
            out |= fields_paths(v, p)
        else:
            out.add(pre + ("[]",))
    return out


def body_paths(obj, pre=()):
    out = set()
    for k, v in obj.items():
        p = pre + (k,)
        out.add(p)
        if isinstance(v, dict):
            out |= body_paths(v, p)
        elif isinstance(v, list):
            out.add(p + ("[]",))
    return out


class Oracle:
    def __init__(self, api, tmp):
        self.api, self.tmp = api, tmp

    def live_state(self):
        mcs = {m["metadata"]["name"]: m for m in self.api.items(MC_PATH)}
        tokens = {}
        for s in self.api.items("/api/v1/namespaces/%s/secrets" % TOKEN_NS):
            n = s["metadata"]["name"]
            if n.endswith("-token") and "token" in (s.get("data") or {}):
                tokens[n[:-len("-token")]] = base64.b64decode(s["data"]["token"]).decode()
        return mcs, tokens

    def ours(self):
        out = []
        for ns in ("istio-system", TOKEN_NS):
            for kind, plural, prefix in (("Service", "services", "/api/v1"), ("Secret", "secrets", "/api/v1"),
                                         ("ConfigMap", "configmaps", "/api/v1"),
                                         ("Gateway", "gateways", "/apis/networking.istio.io/v1")):
                for o in self.api.items("%s/namespaces/%s/%s" % (prefix, ns, plural), "labelSelector=" + OURS):
                    o["kind"] = kind
                    o["_path"] = "%s/namespaces/%s/%s/%s" % (prefix, ns, plural, o["metadata"]["name"])
                    out.append(o)
        return out

    def check(self, may_have):
        """{diffs: [(subjects, text)], duplicates: [...], orphans: [...]}."""
        res = {"diffs": [], "duplicates": [], "orphans": []}
        mcs, tokens = self.live_state()
        docs = {n: mc_body(n, m.get("spec") or {}, m["metadata"].get("creationTimestamp")) for n, m in mcs.items()}
        rendered, rejected, waiting = render(self.tmp, docs, tokens)
        for n, m in mcs.items():
            self.check_mc(n, m, rejected.get(n), res)
        if rendered is None:
            return res  # the local MeshCluster rejected: nothing is changed, nothing to compare
        want = [M.Managed(o) for o in rendered]
        for m, raw in zip(want, rendered):
            self.check_object(m, raw, res)
        wanted = {(m.kind, m.ns, m.name) for m in want}
        for o in self.ours():
            md = o["metadata"]
            cl = (md.get("labels") or {}).get("meshcluster.io/cluster") or cluster_by_name(o)
            if (o["kind"], md.get("namespace"), md["name"]) in wanted:
                continue
            if cl in rejected and cl in may_have:
                continue  # a rejected MeshCluster's objects stay as they were
            if cl in waiting and o["kind"] == "Secret":
                continue  # a working remote secret is kept while its token cannot be read
            why = "rejected, never accepted" if cl in rejected else "not wanted"
            res["orphans"].append(([cl, o["_path"]], "%s (MeshCluster %s: %s)" % (o["_path"], cl, why)))
        self.check_duplicates(mcs, res)
        return res

    def dump(self, path):
        """The live MeshClusters and our objects, for a failed storm's post-mortem."""
        with open(path, "w") as f:
            json.dump({"meshclusters": self.api.items(MC_PATH), "ours": self.ours(),
                       "istio": self.api.get("/api/v1/namespaces/istio-system/configmaps/istio")}, f, indent=1)

    def check_object(self, m, raw, res):
        live = self.api.get(m.path)
        subj = [m.cluster, m.path]
        if live is None:
            res["diffs"].append((subj, "missing %r" % m))
            return
        if not M.subset(m.desired, live):
            res["diffs"].append((subj, "differs %r: want %s" % (m, json.dumps(m.desired, sort_keys=True)[:400])))
        allowed = body_paths({k: v for k, v in raw.items() if k not in ("apiVersion", "kind")})
        for e in live["metadata"].get("managedFields") or []:
            if e.get("manager") != MANAGER or e.get("subresource"):
                continue
            extra = sorted(p for p in fields_paths(e.get("fieldsV1")) if p not in allowed)
            if extra:
                res["diffs"].append((subj, "%r: we own fields render does not make: %s" % (m, extra[:5])))

    def check_mc(self, name, mc, rejected, res):
        st = mc.get("status") or {}
        conds = {x["type"]: x for x in st.get("conditions") or []}
        acc = conds.get("Accepted") or {}
        if st.get("observedGeneration") != mc["metadata"].get("generation"):
            res["diffs"].append(([name], "MeshCluster %s: status at generation %s, object at %s"
                                 % (name, st.get("observedGeneration"), mc["metadata"].get("generation"))))
        if rejected:
            reason, field = rejected
            if acc.get("status") != "False" or acc.get("reason") != reason or field not in (acc.get("message") or ""):
                res["diffs"].append(([name], "MeshCluster %s: render rejects it (%s %s), status says %s/%s: %s"
                                     % (name, reason, field, acc.get("status"), acc.get("reason"), acc.get("message"))))
        elif acc.get("status") != "True":
            res["diffs"].append(([name], "MeshCluster %s: Accepted=%s %s, render accepts it"
                                 % (name, acc.get("status"), acc.get("reason"))))

    def check_duplicates(self, mcs, res):
        seen = {}
        for o in self.ours():
            md = o["metadata"]
            keys = []
            fqdn = (md.get("annotations") or {}).get("tailscale.com/tailnet-fqdn")
            if o["kind"] == "Service" and fqdn:
                keys.append(("fqdn", fqdn))
            if o["kind"] == "Secret" and (md.get("labels") or {}).get("istio/multiCluster") == "true":
                keys += [("remote secret", k) for k in (o.get("data") or {})]
            for k in keys:
                if k in seen:
                    res["duplicates"].append(([o["_path"], seen[k]], "%s %s: %s and %s" % (k[0], k[1], seen[k], o["_path"])))
                seen.setdefault(k, o["_path"])
            ports = [(p.get("port"), p.get("protocol", "TCP")) for p in (o.get("spec") or {}).get("ports") or []]
            names = [p.get("name") for p in (o.get("spec") or {}).get("ports") or [] if p.get("name")]
            if len(set(ports)) != len(ports) or len(set(names)) != len(names):
                res["duplicates"].append(([o["_path"]], "%s: a port twice: %s" % (o["_path"], ports)))
        for n, mc in mcs.items():
            types = [x["type"] for x in (mc.get("status") or {}).get("conditions") or []]
            if len(set(types)) != len(types):
                res["duplicates"].append(([n], "MeshCluster %s: a condition twice: %s" % (n, types)))


def converge(oracle, storm, limit, may_have):
    """The oracle's verdict once it holds, the daemon watches all it watched before the storm
    and is quiet, or the last verdict at limit."""
    c = storm.c
    deadline = time.monotonic() + limit
    while True:
        res = oracle.check(may_have)
        clean = not any(res.values()) and (storm.base_watchers is None or
                                           storm.watchers() >= storm.base_watchers)
        if clean:
            try:
                wait_quiet(c, 3.0, max(4.0, deadline - time.monotonic()))
            except AssertionError:
                pass
            res = oracle.check(may_have)
            if not any(res.values()) or time.monotonic() > deadline:
                return res
        elif time.monotonic() > deadline:
            return res
        time.sleep(1.0)


def replay_hint(storm, res, seed, kill_at):
    """The shortest prefix that still holds every operation that touched what diverged."""
    subjects = set()
    for items in res.values():
        for subj, _ in items:
            subjects.update(s for s in subj if s)
    last = None
    for i, _, subj, _ in storm.log:
        if subjects.intersection(subj):
            last = i
    n = (last + 1) if last is not None else len(storm.log)
    kills = ",".join(str(k) for k in kill_at if k < n) or "none"
    return "replay: bench/storm/run --server %s --seed %d --ops %d --kill-at %s  (op %s last touched %s)" % (
        ARGS.server, seed, n, kills, last, sorted(subjects)[:6])


def kill_points(seed, ops, kills, explicit):
    if explicit is not None:
        return sorted(int(x) for x in explicit.split(",") if x and x != "none")
    rng = random.Random("%d:kills" % seed)
    return sorted(rng.sample(range(1, ops), min(kills, max(ops - 1, 0)))) if ops > 1 else []


def main():
    a = ARGS
    t0 = time.monotonic()
    print("storm: seed=%d ops=%d kills=%d server=%s (replay with --seed %d)" % (a.seed, a.ops, a.kills, a.server, a.seed),
          flush=True)
    kill_at = kill_points(a.seed, a.ops, a.kills, a.kill_at)
    if a.summary_out and os.path.exists(a.summary_out):
        os.remove(a.summary_out)  # no stale line from an earlier run
    tmp, (c,) = L.mesh([LOCAL], faults=a.faults)
    ok = False
    storm = None
    try:
        api = Api(c)
        storm = Storm(c, api, tmp, a.seed)
        code, obj = storm.apply_mc(LOCAL, storm.model[LOCAL])
        if code >= 300:
            raise AssertionError("the local MeshCluster: %s %r" % (code, obj))
        storm.created[LOCAL] = obj["metadata"].get("creationTimestamp")
        c.start_daemon()
        storm.base_watchers = storm.wait_watching() if storm.fault_url else None
        t_start = time.monotonic()
        for i in range(a.ops):
            if c.daemon.poll() is not None:
                raise AssertionError("the daemon exited (%s) before op %d; replay: bench/storm/run --server %s "
                                     "--seed %d --ops %d --kill-at %s" % (c.daemon.returncode, i, a.server, a.seed, i,
                                                                          ",".join(str(k) for k in kill_at if k < i) or "none"))
            if i in kill_at:
                storm.kill()
                storm.log.append((i, "kill", ["*"], "kill -9 and restart"))
            storm.step(i)
        t_ops = time.monotonic() - t_start
        if storm.fault_url:
            storm.clear_faults()
        if c.daemon.poll() is not None:
            raise AssertionError("the daemon exited: %s" % c.daemon.returncode)
        oracle = Oracle(api, tmp)
        t_conv = time.monotonic()
        res = converge(oracle, storm, a.converge, storm.ever_valid | storm.may_keep)
        print("storm: %d operations in %.1f s (%.1f ops/s), oracle satisfied after %.1f s"
              % (a.ops, t_ops, a.ops / t_ops if t_ops else 0, time.monotonic() - t_conv), flush=True)
        c.clear_requests()
        time.sleep(a.steady)
        writes = c.daemon_writes()
        if c.daemon.poll() is not None:
            raise AssertionError("the daemon exited: %s" % c.daemon.returncode)
        line = ("storm: seed=%d ops=%d kills=%d faults=%d diffs=%d duplicates=%d orphans=%d steady_writes=%d "
                "seconds=%.0f server=%s" % (a.seed, a.ops, storm.kills, storm.faults, len(res["diffs"]),
                                            len(res["duplicates"]), len(res["orphans"]), len(writes),
                                            time.monotonic() - t0, a.server))
        for k in ("diffs", "duplicates", "orphans"):
            for _, text in res[k]:
                print("  %s: %s" % (k[:-1] if k != "diffs" else "diff", text))
        for w in writes[:10]:
            print("  steady write: %s %s %s" % (w["method"], w["path"], w["code"]))
        # A clean stop (SIGTERM) exits 0; under ASan, LeakSanitizer's report fails it.
        rc = c.stop_daemon()
        if rc != 0:
            print("  the daemon's stop exited %s (log: %s)" % (rc, c.daemon_log_path))
        ok = not any(res.values()) and not writes and rc == 0
        if not ok:
            print(replay_hint(storm, res, a.seed, kill_at))
            with open(os.path.join(tmp, "ops.txt"), "w") as f:
                for i, kind, subj, detail in storm.log:
                    f.write("%d %s %s\n" % (i, kind, detail))
            oracle.dump(os.path.join(tmp, "state.json"))
            print("operations: %s; live state: %s; daemon log: %s"
                  % (os.path.join(tmp, "ops.txt"), os.path.join(tmp, "state.json"), c.daemon_log_path))
        print(line, flush=True)
        if a.summary_out:
            with open(a.summary_out, "w") as f:
                f.write(line + "\n")
    finally:
        c.close()
        if ok:
            L.cleanup(tmp)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
