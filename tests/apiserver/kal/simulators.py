"""Neighbour simulators, each a separate client writing through the API like the real one.

Tailscale operator (cmd/k8s-operator/svc.go): for a Service annotated tailscale.com/tailnet-fqdn
(or tailnet-ip) it adds its finalizer, creates a headless Service in the `tailscale` namespace,
rewrites the Service to type ExternalName pointing at it with an Update under field manager
`tailscale-operator`, and sets the TailscaleProxyReady condition. For a LoadBalancer Service with
loadBalancerClass tailscale it publishes a MagicDNS hostname and a 100.64.0.0/10 address. For a
DNSConfig (when its CRD is installed) it puts the nameserver's Service IP in status.nameserver.ip,
as the operator does once its nameserver Deployment runs (POST /tailscale {dns_ip} changes it).

istiod: on start-up (and POST /istiod/restart) takes its root from Secret istio-system/cacerts'
root-cert.pem, or makes a self-signed one when cacerts does not exist yet, and keeps ConfigMap
istio-ca-root-cert (key root-cert.pem) with that root in istio-system and every other namespace.
It also answers /debug/clusterz as istiod does (GET /istiod/debug/clusterz on the control port):
its own cluster, then each cluster of every remote secret, "synced" unless told otherwise."""
import copy
import heapq
import os
import queue
import random
import subprocess
import threading
import time

from .api import Ctx, now
from .store import Event

SVC = ("", "services")
FQDN = "tailscale.com/tailnet-fqdn"
TIP = "tailscale.com/tailnet-ip"
FINALIZER = "tailscale.com/finalizer"
MANAGER = "tailscale-operator"
OPERATOR_NS = "tailscale"
DNSCONFIG = ("tailscale.com", "dnsconfigs")
DNS_CHECK_S = 0.25  # DNSConfigs are polled, not watched: their CRD may not be installed


def _ensure_namespace(app, name, manager):
    res = app.registry.get("", "v1", "namespaces")
    if app.store.get(("", "namespaces"), "", name) is None:
        app.api.create(res, "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                       Ctx({"fieldManager": manager}))


class Tailscale:
    def __init__(self, app, ready_delay, fail):
        self.app = app
        self.ready_delay = ready_delay
        self.fail = fail
        self.tailnet = "tail0000.ts.net"
        self.dns_ip = "10.96.200.53"
        self.dns_checked = 0.0
        self.first_seen = {}
        self.ips = {}
        self.headless = {}  # (parent namespace, parent name) -> {name: its headless Service}
        self.due = []  # heap of (monotonic time, key): Services waiting out ready_delay
        self.lock = threading.Lock()

    def configure(self, body):
        with self.lock:
            if "ready_delay" in body:
                self.ready_delay = float(body["ready_delay"])
            if "fail" in body:
                self.fail = bool(body["fail"])
            if "tailnet" in body:
                self.tailnet = body["tailnet"]
            if "dns_ip" in body:
                self.dns_ip = body["dns_ip"]
                self.dns_checked = 0.0
        self.watcher.q.put(True)

    def start(self):
        self.watcher = self.app.store.watch(None)[0]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        # Like the operator's work queue: each Service event reconciles that Service (and a
        # headless proxy's event its parent), not every Service. Rescanning all of them per
        # event held the store lock, which every request needs, for milliseconds per event
        # at a few thousand Services.
        rescan = True  # at start, and after configure(): every Service
        while True:
            timeout = 0.2
            if self.due:
                timeout = max(0.0, min(timeout, self.due[0][0] - time.monotonic()))
            evs = []
            try:
                evs.append(self.watcher.q.get(timeout=timeout))
            except queue.Empty:
                pass
            while not self.watcher.q.empty():
                evs.append(self.watcher.q.get_nowait())
            keys = set()
            for ev in evs:
                if not isinstance(ev, Event):
                    rescan = True
                elif ev.gr == SVC:
                    keys |= self._note(ev)
            t = time.monotonic()
            while self.due and self.due[0][0] <= t:
                keys.add(heapq.heappop(self.due)[1])
            try:
                with self.app.store.lock:
                    if rescan:
                        rescan = False
                        svcs = self.app.store.peek(SVC)
                        self.headless = {}
                        for svc in svcs:
                            self._index_headless(svc)
                    else:
                        svcs = [o for o in (self.app.store.peek_object(SVC, *k) for k in sorted(keys)) if o]
                    for svc in svcs:
                        self._reconcile(svc)
            except Exception as e:
                print("tailscale simulator: %r" % (e,), flush=True)
            if time.monotonic() - self.dns_checked >= DNS_CHECK_S:
                self.dns_checked = time.monotonic()
                try:
                    self._dnsconfigs()
                except Exception as e:
                    print("tailscale simulator: dnsconfigs: %r" % (e,), flush=True)

    def _dnsconfigs(self):
        """The nameserver's IP into each DNSConfig's status (the operator allows one)."""
        with self.lock:
            ip, fail = self.dns_ip, self.fail
        for dc in self.app.store.list_any(DNSCONFIG):
            st = dc.get("status") or {}
            if fail or (st.get("nameserver") or {}).get("ip") == ip or dc["metadata"].get("deletionTimestamp"):
                continue
            dc = copy.deepcopy(dc)
            dc.setdefault("status", {})["nameserver"] = {"ip": ip}
            self.app.api.internal_update(DNSCONFIG, dc, MANAGER, sub="status")

    def _note(self, ev):
        """Keeps the headless index current from one event; returns the keys to reconcile."""
        md = ev.obj["metadata"]
        key = (md.get("namespace", ""), md["name"])
        if ev.type == "DELETED":
            self.first_seen.pop(key, None)
        parent = self._parent_of(ev.obj)
        if parent is None:
            return {key}
        if ev.type == "DELETED":
            self.headless.get(parent, {}).pop(md["name"], None)
        else:
            self._index_headless(ev.obj)
        return {key, parent}

    def _update(self, obj, sub=None):
        return self.app.api.internal_update(SVC, obj, MANAGER, sub=sub)

    def _reconcile(self, svc):
        md = svc["metadata"]
        ann = md.get("annotations") or {}
        key = (md["namespace"], md["name"])
        egress = FQDN in ann or TIP in ann
        lb = (svc.get("spec") or {}).get("type") == "LoadBalancer" and \
            (svc.get("spec") or {}).get("loadBalancerClass") == "tailscale"
        fins = md.get("finalizers") or []
        if md.get("deletionTimestamp") or (not egress and not lb):
            if FINALIZER in fins:
                self._cleanup(svc)
            self.first_seen.pop(key, None)
            return
        if FINALIZER not in fins:
            svc = copy.deepcopy(svc)
            svc["metadata"]["finalizers"] = fins + [FINALIZER]
            self._update(svc)
            return
        t0 = self.first_seen.setdefault(key, time.monotonic())
        with self.lock:
            delay, fail, tailnet = self.ready_delay, self.fail, self.tailnet
        if time.monotonic() < t0 + delay:
            heapq.heappush(self.due, (t0 + delay, key))
            return
        if egress:
            self._egress(svc, fail)
        if lb:
            self._lb(svc, fail, tailnet)

    @staticmethod
    def _parent_of(s):
        if s["metadata"].get("namespace") != OPERATOR_NS:
            return None
        labels = s["metadata"].get("labels") or {}
        parent = (labels.get("tailscale.com/parent-resource-ns"), labels.get("tailscale.com/parent-resource"))
        return parent if parent[1] else None

    def _index_headless(self, s):
        parent = self._parent_of(s)
        if parent is not None:
            self.headless.setdefault(parent, {})[s["metadata"]["name"]] = s

    def _headless(self, svc):
        md = svc["metadata"]
        found = self.headless.get((md["namespace"], md["name"]))
        if found:
            return found[min(found)]
        _ensure_namespace(self.app, OPERATOR_NS, MANAGER)
        name = "ts-%s-%s" % (md["name"][:40], "".join(random.choice("bcdfghjklmnpqrstvwxz") for _ in range(5)))
        res = self.app.registry.get("", "v1", "services")
        _, created = self.app.api.create(res, OPERATOR_NS, {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": OPERATOR_NS, "labels": {
                "tailscale.com/managed": "true", "tailscale.com/parent-resource": md["name"],
                "tailscale.com/parent-resource-ns": md["namespace"],
                "tailscale.com/parent-resource-type": "svc"}},
            "spec": {"clusterIP": "None", "selector": {"app": name}}}, Ctx({"fieldManager": MANAGER}))
        self._index_headless(created)
        return created

    def _set_condition(self, svc, status_, reason, message):
        conds = (svc.get("status") or {}).get("conditions") or []
        old = [c for c in conds if c.get("type") == "TailscaleProxyReady"]
        if old and old[0].get("status") == status_ and old[0].get("reason") == reason:
            return svc
        cond = {"type": "TailscaleProxyReady", "status": status_, "reason": reason, "message": message,
                "lastTransitionTime": now() if not old or old[0].get("status") != status_
                else old[0].get("lastTransitionTime")}
        svc = copy.deepcopy(svc)
        svc.setdefault("status", {})["conditions"] = [c for c in conds if c.get("type") != "TailscaleProxyReady"] + [cond]
        return self._update(svc, sub="status") or svc

    def _egress(self, svc, fail):
        if fail:
            self._set_condition(svc, "False", "ProxyCreationFailed",
                                "failed to provision proxy: simulated failure")
            return
        hs = self._headless(svc)
        want = "%s.%s.svc.cluster.local" % (hs["metadata"]["name"], OPERATOR_NS)
        spec = svc.get("spec") or {}
        if spec.get("type") != "ExternalName" or spec.get("externalName") != want or spec.get("selector"):
            svc = copy.deepcopy(svc)
            svc["spec"]["type"] = "ExternalName"
            svc["spec"]["externalName"] = want
            svc["spec"].pop("selector", None)
            svc = self._update(svc)
            if svc is None:
                return
        self._set_condition(svc, "True", "ProxyCreated", "ProxyCreated")

    def _lb(self, svc, fail, tailnet):
        md = svc["metadata"]
        if fail:
            self._set_condition(svc, "False", "ProxyCreationFailed", "failed to provision proxy: simulated failure")
            return
        host = (md.get("annotations") or {}).get("tailscale.com/hostname") or \
            "%s-%s" % (md["namespace"], md["name"])
        key = (md["namespace"], md["name"])
        ip = self.ips.setdefault(key, "100.%d.%d.%d" % (random.randint(64, 127), random.randint(0, 255),
                                                        random.randint(1, 254)))
        want = {"ingress": [{"hostname": "%s.%s" % (host, tailnet)}, {"ip": ip}]}
        if (svc.get("status") or {}).get("loadBalancer") != want:
            svc = copy.deepcopy(svc)
            svc.setdefault("status", {})["loadBalancer"] = want
            svc = self._update(svc, sub="status")
            if svc is None:
                return
        self._set_condition(svc, "True", "ProxyCreated", "ProxyCreated")

    def _cleanup(self, svc):
        md = svc["metadata"]
        for name in sorted(self.headless.pop((md["namespace"], md["name"]), {})):
            self.app.api.internal_delete(SVC, OPERATOR_NS, name)
        svc = copy.deepcopy(svc)
        svc["metadata"]["finalizers"] = [f for f in svc["metadata"].get("finalizers") or [] if f != FINALIZER]
        self._update(svc)


class Istiod:
    """Publishes the root certificate it started with into every namespace (skipping the
    kube-* ones, like istiod's namespace controller) and restores it when changed or deleted."""

    IGNORED = ("kube-system", "kube-public", "kube-node-lease")
    CM = ("", "configmaps")

    def __init__(self, app, cert_dir):
        self.app = app
        self.dir = cert_dir
        self.self_signed = None
        self.root = None
        self.cluster_id = "Kubernetes"  # istiod's default CLUSTER_ID
        self.sync_status = {}  # cluster id -> syncStatus other than "synced"

    def configure(self, body):
        """POST /istiod {cluster_id, sync_status: {id: "timeout"|...|null}}."""
        if "cluster_id" in body:
            self.cluster_id = str(body["cluster_id"])
        for cid, st in (body.get("sync_status") or {}).items():
            if st is None:
                self.sync_status.pop(cid, None)
            else:
                self.sync_status[cid] = str(st)

    def clusterz(self):
        """istiod's DebugInfo list: {id, secretName, syncStatus}; remote secrets are the
        Secrets labelled istio/multiCluster=true in istio-system, one entry per data key."""
        out = [{"id": self.cluster_id, "secretName": "", "syncStatus": "synced"}]
        with self.app.store.lock:
            secrets = self.app.store.list(("", "secrets"))[0]
        for sec in sorted(secrets, key=lambda o: o["metadata"]["name"]):
            md = sec["metadata"]
            if md.get("namespace") != "istio-system" or \
                    (md.get("labels") or {}).get("istio/multiCluster") != "true":
                continue
            for cid in sorted(sec.get("data") or {}):
                out.append({"id": cid, "secretName": "istio-system/" + md["name"],
                            "syncStatus": self.sync_status.get(cid, "synced")})
        return out

    def start(self):
        self.watcher = self.app.store.watch(None)[0]
        self.start_up()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            ev = self.watcher.q.get()
            if ev is None:
                continue
            busy = ev.gr == ("", "namespaces") or (ev.gr == self.CM and ev.obj["metadata"]["name"] == "istio-ca-root-cert")
            while not self.watcher.q.empty():
                nxt = self.watcher.q.get_nowait()
                busy = busy or (nxt is not None and (nxt.gr == ("", "namespaces") or nxt.gr == self.CM))
            if busy:
                try:
                    self.publish()
                except Exception as e:
                    print("istiod simulator: %r" % (e,), flush=True)

    def _self_signed_root(self):
        if self.self_signed is None:
            key, crt = os.path.join(self.dir, "istiod-root.key"), os.path.join(self.dir, "istiod-root.crt")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-keyout", key, "-out", crt, "-days", "3650", "-subj",
                            "/O=cluster.local", "-addext", "basicConstraints=critical,CA:TRUE"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(crt) as f:
                self.self_signed = f.read()
        return self.self_signed

    def start_up(self):
        """What istiod does when it starts: pick its root (cacerts, else self-signed), publish."""
        import base64
        app = self.app
        # Read from the server, not a cache: istiod reads cacerts when it starts, and a test
        # restarts it right after writing the Secret.
        secret = app.store.get_now(("", "secrets"), "istio-system", "cacerts")
        with app.store.lock:
            _ensure_namespace(app, "istio-system", "istiod")
            root = None
            if secret is not None and (secret.get("data") or {}).get("root-cert.pem"):
                root = base64.b64decode(secret["data"]["root-cert.pem"]).decode()
            self.root = root or self._self_signed_root()
            self.publish()

    def publish(self):
        app = self.app
        res = app.registry.get("", "v1", "configmaps")
        with app.store.lock:
            for ns in app.store.list(("", "namespaces"))[0]:
                name = ns["metadata"]["name"]
                if name in self.IGNORED or ns["metadata"].get("deletionTimestamp"):
                    continue
                cur = app.store.get(self.CM, name, "istio-ca-root-cert")
                if cur is None:
                    app.api.create(res, name, {
                        "apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "istio-ca-root-cert", "namespace": name,
                                     "labels": {"istio.io/config": "true"}},
                        "data": {"root-cert.pem": self.root}}, Ctx({"fieldManager": "pilot-discovery"}))
                elif (cur.get("data") or {}).get("root-cert.pem") != self.root:
                    cur["data"] = {"root-cert.pem": self.root}
                    app.api.internal_update(self.CM, cur, "pilot-discovery")
