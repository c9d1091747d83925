"""One edit, minimum writes: every MeshCluster spec field edited once, with the writes each edit
causes against the minimum, the time until the daemon is quiet again, and the conditions that
passed through False while it recomputed.

Usage: edits.py [--daemon-arg ARG ...] [N ...]      (default N: 100 1000)

For each N, on a private kube-apiserver-lite with the Tailscale and istiod simulators
(bench/converge's set-up), N MeshClusters and meshclusterd for cluster0001 converge first.
Then, for each field, cluster0002 (a remote) and, where the field is the local cluster's own,
cluster0001 is edited with a merge patch; we wait until the daemon has made no write for 2 s
and count its writes from the request log, split into object writes, status writes and
Events. The minimum is computed, not assumed: the objects whose rendered form (meshctl render of
the MeshCluster set before and after) differs, plus one status write for the edited
MeshCluster (its generation moved). A watch on every MeshCluster records each condition that
went from True to anything else on a MeshCluster that was not edited: "transient" counts them
(they should be 0: recomputing must not look like an outage); "elsewhere" counts status writes
to MeshClusters other than the edited one. The edit is then undone and the daemon allowed to
settle before the next field. Prints one table per N; asserts nothing. MC_TEST_SERVER picks
the server (lite or real, as for the e2e tests).
"""
import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "bench", "converge"))
sys.path.insert(0, os.path.join(REPO, "tests", "reconciler"))
import converge  # noqa: E402  (server, API client, request-log helpers)
import e2e_lib  # noqa: E402

# (label, who, patch builder): who is "remote" (cluster0002) or "local" (cluster0001).
EDITS = [
    ("network", "remote", lambda: {"spec": {"network": "edited-net"}}),
    ("locality.region", "remote", lambda: {"spec": {"locality": {"region": "sa-east-1"}}}),
    ("tailscale.apiServerProxyHostname", "remote",
     lambda: {"spec": {"tailscale": {"apiServerProxyHostname": "edited-k8s-operator"}}}),
    ("tailscale.eastWestGatewayHostname", "remote",
     lambda: {"spec": {"tailscale": {"eastWestGatewayHostname": "edited-ewgw"}}}),
    ("tailscale.proxyClass", "local", lambda: {"spec": {"tailscale": {"proxyClass": "edited"}}}),
    ("tailscale.gatewayTags", "local",
     lambda: {"spec": {"tailscale": {"gatewayTags": ["tag:edited"]}}}),
    ("gateway.ports.tls", "remote", lambda: {"spec": {"gateway": {"ports": {"tls": 25443}}}}),
    ("gateway.ports.status", "local", lambda: {"spec": {"gateway": {"ports": {"status": 25021}}}}),
    ("remoteSecret.server", "remote",
     lambda: {"spec": {"remoteSecret": {"server": "https://edited.example.com"}}}),
    ("network (local)", "local", lambda: {"spec": {"network": "edited-local-net"}}),
]


class ConditionWatch:
    """Every MeshCluster's conditions as they change; counts True -> not True transitions."""

    def __init__(self, api):
        self.api, self.lock = api, threading.Lock()
        self.last = {}
        self.transient = []
        self.edited = set()
        self.conn = None

    def start(self):
        self.conn = self.api.connect(timeout=None)
        self.conn.request("GET", converge.MC_API + "?watch=1&allowWatchBookmarks=true"
                          "&timeoutSeconds=3600", headers=self.api.headers())
        resp = self.conn.getresponse()
        threading.Thread(target=self.run, args=(resp,), daemon=True).start()

    def run(self, resp):
        while True:
            try:
                line = resp.readline()
            except Exception:
                return
            if not line:
                return
            ev = json.loads(line)
            if ev["type"] not in ("ADDED", "MODIFIED"):
                continue
            obj = ev["object"]
            name = obj["metadata"]["name"]
            conds = {c["type"]: c.get("status") for c in
                     (obj.get("status") or {}).get("conditions") or []}
            with self.lock:
                before = self.last.get(name, {})
                for t, s in conds.items():
                    if before.get(t) == "True" and s != "True" and name not in self.edited:
                        self.transient.append((name, t, s))
                self.last[name] = conds

    def take(self):
        with self.lock:
            out, self.transient = self.transient, []
            return out

    def stop(self):
        try:
            self.conn.sock.shutdown(2)
        except OSError:
            pass
        self.conn.close()


def merge(dst, patch):
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            merge(dst[k], v)
        else:
            dst[k] = copy.deepcopy(v)


def rendered_by_key(tmp, local, mcs):
    _, items = converge.render(tmp, local, mcs)
    return {converge.key_of(o): o for o in items}


def changed(before, after):
    return sum(1 for k in set(before) | set(after) if before.get(k) != after.get(k))


def wait_quiet(c, quiet=2.0, limit=120):
    t0 = time.monotonic()
    converge.settle(c, quiet=quiet, limit=limit)
    return max(0.0, time.monotonic() - t0 - quiet)


def run_one(n, args):
    tmp = tempfile.mkdtemp(prefix="mc-bench-edits-")
    c = converge.start_server("edits", tmp, n)
    api = converge.Api(c)
    local, remote = "cluster0001", "cluster0002"
    mcs = converge.meshclusters(n)
    rows = []
    try:
        converge.create_all(api, mcs)
        base_render = rendered_by_key(tmp, local, mcs)
        with open(os.path.join(tmp, "daemon.log"), "a") as log:
            tr, res = converge.converge(c, api, list(base_render.values()), local,
                                        args.daemon_arg or [], log)
            tr.stop()
            if res.get("note"):
                raise RuntimeError("N=%d: %s" % (n, res["note"]))
            watch = ConditionWatch(api)
            watch.start()
            wait_quiet(c)
            for label, who, patch in EDITS:
                name = local if who == "local" else remote
                edited = copy.deepcopy(mcs)
                merge(next(m for m in edited if m["metadata"]["name"] == name), patch())
                minimum = changed(base_render, rendered_by_key(tmp, local, edited)) + 1
                watch.edited = {name}
                watch.take()
                port = converge.metrics_port(os.path.join(tmp, "daemon.log"))
                m0 = converge.scrape(port)
                c.clear_requests()
                code, body = api.request("PATCH", converge.MC_API + "/" + name, patch(),
                                         ctype="application/merge-patch+json")
                if code != 200:
                    raise RuntimeError("patching %s: %d %s" % (name, code, body))
                quiet = wait_quiet(c)
                w = converge.classify(converge.daemon_writes(c), {converge.object_path(o)
                                                                  for o in base_render.values()})
                transient = watch.take()
                work = converge.work(m0, converge.scrape(port))
                elsewhere = sum(1 for r in w["status"] if r["path"].split("/")[-2] != name)
                rows.append((label, who, len(w["object"]) + len(w["other"]), len(w["status"]),
                             elsewhere, len(w["event"]), minimum, quiet, transient,
                             work["bodies"], work["passes"], work["pass_ms"]))
                # Undo the edit: put the original spec back whole.
                orig = next(m for m in mcs if m["metadata"]["name"] == name)
                code, cur = api.request("GET", converge.MC_API + "/" + name)
                cur["spec"] = copy.deepcopy(orig["spec"])
                api.request("PUT", converge.MC_API + "/" + name, cur)
                wait_quiet(c)
            watch.stop()
    finally:
        c.close()
        e2e_lib.cleanup(tmp)
    print("\nN=%d: one edit at a time (writes by the daemon until 2 s of quiet)" % n)
    print("| field | MeshCluster | object writes | status writes (elsewhere) | Events | minimum | "
          "quiet after | transient non-True conditions elsewhere | bodies built | passes (mean ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (label, who, objw, statw, elsewhere, evw, minimum, quiet, transient, bodies, passes,
         pass_ms) in rows:
        ex = ", ".join("%s %s=%s" % t for t in transient[:3])
        print("| %s | %s | %d | %d (%d) | %d | %d | %.2f s | %d%s | %d | %d (%.2f) |" % (
            label, who, objw, statw, elsewhere, evw, minimum, quiet, len(transient),
            " (%s)" % ex if ex else "", bodies, passes, pass_ms), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon-arg", action="append")
    ap.add_argument("n", nargs="*", type=int)
    args = ap.parse_args()
    for n in args.n or [100, 1000]:
        run_one(n, args)


if __name__ == "__main__":
    main()
