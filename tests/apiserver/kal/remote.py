"""The simulators' view of a cluster they reach over the API, as a client: what kal.simulators
needs of an App (store reads, store.watch, api.create / internal_update / internal_delete,
registry.get) served from list+watch caches and plain HTTPS requests, so the same simulator
code runs inside the lite server and as a standalone process against any API server
(tests/support/simulate)."""
import base64
import collections
import copy
import http.client
import json
import os
import ssl
import tempfile
import threading
import time
import urllib.parse

import yaml

from .store import Event, Watcher

# What the simulators read: Services (Tailscale), Namespaces, ConfigMaps and Secrets (istiod).
WATCHED = (("", "services"), ("", "namespaces"), ("", "configmaps"), ("", "secrets"))
KINDS = {"services": "Service", "namespaces": "Namespace", "configmaps": "ConfigMap", "secrets": "Secret",
         "dnsconfigs": "DNSConfig"}
# Read on demand, not cached: the Tailscale operator's kinds (their CRDs may be missing).
VERSIONS = {"tailscale.com": "v1alpha1"}


class RemoteError(Exception):
    def __init__(self, code, body):
        super().__init__("HTTP %d: %s" % (code, body[:300]))
        self.code = code


class Resource:
    """What registry.get returns: enough to build a path."""

    def __init__(self, group, version, resource):
        self.group, self.version, self.resource = group, version, resource
        self.namespaced = resource != "namespaces"
        self.kind = KINDS.get(resource, resource)

    def path(self, ns=None, name=None, sub=None):
        base = "/api/%s" % self.version if not self.group else "/apis/%s/%s" % (self.group, self.version)
        if ns and self.namespaced:
            base += "/namespaces/%s" % urllib.parse.quote(ns)
        base += "/" + self.resource
        if name:
            base += "/" + urllib.parse.quote(name)
        if sub:
            base += "/" + sub
        return base


def _resource(gr):
    return Resource(gr[0], VERSIONS.get(gr[0], "v1"), gr[1])


class Client:
    """HTTPS requests with the current context's server, CA and token of a kubeconfig."""

    def __init__(self, kubeconfig, user_agent):
        with open(kubeconfig) as f:
            kc = yaml.safe_load(f)
        ctx_name = kc.get("current-context")
        ctx = next(c["context"] for c in kc["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in kc["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in kc["users"] if u["name"] == ctx["user"])
        u = urllib.parse.urlsplit(cluster["server"])
        self.host, self.port = u.hostname, u.port or 443
        self.ssl = ssl.create_default_context()
        if cluster.get("certificate-authority-data"):
            self.ssl.load_verify_locations(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        elif cluster.get("certificate-authority"):
            self.ssl.load_verify_locations(cafile=os.path.join(os.path.dirname(kubeconfig),
                                                               cluster["certificate-authority"]))
        self.token = user.get("token")
        self.user_agent = user_agent

    def open(self, method, path, body=None, timeout=30):
        c = http.client.HTTPSConnection(self.host, self.port, context=self.ssl, timeout=timeout)
        h = {"Accept": "application/json", "User-Agent": self.user_agent}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=h)
        return c, c.getresponse()

    def call(self, method, path, body=None):
        c, r = self.open(method, path, body)
        try:
            raw = r.read()
        finally:
            c.close()
        if r.status >= 300:
            raise RemoteError(r.status, raw.decode(errors="replace"))
        return json.loads(raw) if raw else None


class RemoteStore:
    """Caches of the WATCHED collections, kept by one list+watch thread each, with the lite
    Store's read and watch interface. Events go to every watcher in the order the cache took
    them, under the lock, as in the lite Store."""

    def __init__(self, client):
        self.client = client
        self.lock = threading.RLock()
        self.objects = collections.defaultdict(dict)
        self.watchers = set()
        self.rv = "0"  # the last resourceVersion seen (the control endpoint reports it)
        self.floor = "0"
        self.synced = {gr: threading.Event() for gr in WATCHED}

    # ---- reads (the lite Store's semantics: get/list copy, peek does not) -----------------
    def get(self, gr, ns, name):
        with self.lock:
            o = self.objects[gr].get((ns or "", name))
            return copy.deepcopy(o) if o is not None else None

    def _sorted(self, gr, ns):
        objs = self.objects[gr]
        return [objs[k] for k in sorted(objs) if ns is None or k[0] == ns]

    def list(self, gr, ns=None):
        with self.lock:
            return [copy.deepcopy(o) for o in self._sorted(gr, ns)], self.rv

    def peek(self, gr, ns=None):
        with self.lock:
            return self._sorted(gr, ns)

    def get_now(self, gr, ns, name):
        """An object read from the server now, not from the cache: a caller that has just been
        told of a write (POST /istiod/restart right after `kubectl apply`) must see it, and the
        watch may not have delivered it yet."""
        res = _resource(gr)
        try:
            o = self.client.call("GET", res.path(ns, name))
        except RemoteError as e:
            if e.code == 404:
                return None
            raise
        o.setdefault("apiVersion", (res.group + "/" if res.group else "") + res.version)
        o.setdefault("kind", res.kind)
        return o

    def list_any(self, gr):
        """A collection that may not exist, read now (not cached): [] when it does not."""
        if gr in WATCHED:
            return self.list(gr)[0]
        res = _resource(gr)
        try:
            lst = self.client.call("GET", res.path())
        except RemoteError as e:
            if e.code == 404:
                return []
            raise
        items = lst.get("items") or []
        for o in items:
            o.setdefault("apiVersion", (res.group + "/" if res.group else "") + res.version)
            o.setdefault("kind", res.kind)
        return items

    def peek_object(self, gr, ns, name):
        with self.lock:
            return self.objects[gr].get((ns or "", name))

    def watch(self, gr, since_rv=None, snapshot=False, ns=None):
        with self.lock:
            w = Watcher(gr)
            self.watchers.add(w)
            return w, [], self.rv, []

    # ---- the informers ----------------------------------------------------------------------
    def start(self, timeout=60.0):
        for gr in WATCHED:
            threading.Thread(target=self._informer, args=(gr,), daemon=True).start()
        deadline = time.monotonic() + timeout
        for gr, ev in self.synced.items():
            if not ev.wait(max(0.0, deadline - time.monotonic())):
                raise RuntimeError("could not list %s" % gr[1])

    def _emit(self, gr, type_, obj, prev):
        md = obj["metadata"]
        key = (md.get("namespace", ""), md["name"])
        if type_ == "DELETED":
            self.objects[gr].pop(key, None)
        else:
            self.objects[gr][key] = obj
        self.rv = md.get("resourceVersion", self.rv)
        ev = Event(self.rv, gr, type_, obj, prev)
        for w in self.watchers:
            if w.gr is None or w.gr == gr:
                w.q.put(ev)

    def _relist(self, gr):
        res = _resource(gr)
        lst = self.client.call("GET", res.path())
        with self.lock:
            seen = set()
            for o in lst.get("items") or []:
                # List items come without apiVersion and kind; the simulators PUT them back.
                o.setdefault("apiVersion", "v1")
                o.setdefault("kind", res.kind)
                md = o["metadata"]
                key = (md.get("namespace", ""), md["name"])
                seen.add(key)
                old = self.objects[gr].get(key)
                if old is None or old["metadata"].get("resourceVersion") != md.get("resourceVersion"):
                    self._emit(gr, "ADDED" if old is None else "MODIFIED", o, old)
            for key in [k for k in self.objects[gr] if k not in seen]:
                self._emit(gr, "DELETED", self.objects[gr][key], self.objects[gr][key])
        return lst["metadata"].get("resourceVersion") or "0"

    def _informer(self, gr):
        res = _resource(gr)
        rv = None
        while True:
            try:
                if rv is None:
                    rv = self._relist(gr)
                    self.synced[gr].set()
                rv = self._watch(gr, res, rv)
            except (OSError, ValueError, http.client.HTTPException, RemoteError) as e:
                print("simulate: %s: %r" % (gr[1], e), flush=True)
                rv = None
                time.sleep(0.5)

    def _watch(self, gr, res, rv):
        """Follows one watch; returns where to resume, or None to relist (410 Gone)."""
        q = urllib.parse.urlencode({"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true",
                                    "timeoutSeconds": "300"})
        c, r = self.client.open("GET", res.path() + "?" + q, timeout=330)
        try:
            if r.status != 200:
                raise RemoteError(r.status, r.read().decode(errors="replace"))
            while True:
                line = r.readline()
                if not line:
                    return rv
                ev = json.loads(line)
                obj = ev.get("object") or {}
                if ev["type"] == "ERROR":
                    return None if obj.get("code") == 410 else rv
                rv = obj.get("metadata", {}).get("resourceVersion", rv)
                if ev["type"] == "BOOKMARK":
                    continue
                with self.lock:
                    md = obj["metadata"]
                    prev = self.objects[gr].get((md.get("namespace", ""), md["name"]))
                    self._emit(gr, ev["type"], obj, prev)
        finally:
            c.close()


class RemoteApi:
    """The writes the simulators make, as requests. Like the lite server's internal writers,
    an update of a stale object (409) or of a gone one (404) returns None: the watch event
    that made it stale brings the simulator back to the object."""

    def __init__(self, client):
        self.client = client

    def create(self, res, ns, obj, ctx):
        q = urllib.parse.urlencode({"fieldManager": ctx.q("fieldManager") or "simulate"})
        created = self.client.call("POST", res.path(ns) + "?" + q, obj)
        return 201, created

    def internal_update(self, gr, obj, manager, sub=None):
        md = obj["metadata"]
        q = urllib.parse.urlencode({"fieldManager": manager})
        try:
            return self.client.call("PUT", _resource(gr).path(md.get("namespace"), md["name"], sub) + "?" + q, obj)
        except RemoteError as e:
            if e.code in (404, 409):
                return None
            raise

    def internal_delete(self, gr, ns, name, policy="Background"):
        try:
            return self.client.call("DELETE", _resource(gr).path(ns, name),
                                    {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": policy})
        except RemoteError:
            return None


class RemoteRegistry:
    def get(self, group, version, resource):
        return Resource(group, version, resource)


class RemoteApp:
    """An App for kal.simulators whose store and API are a remote server's."""

    def __init__(self, kubeconfig, user_agent="test-simulators"):
        client = Client(kubeconfig, user_agent)
        self.store = RemoteStore(client)
        self.api = RemoteApi(client)
        self.registry = RemoteRegistry()
        self.tailscale = None
        self.istiod = None
        self.cert_dir = tempfile.mkdtemp(prefix="simulate-")
