"""Garbage collector and namespace controller emulation (kube-controller-manager's work).

Background: a dependent whose owners are all gone is deleted. Foreground: an owner carrying the
foregroundDeletion finalizer deletes its dependents and keeps the finalizer until no dependent
with blockOwnerDeletion remains. Orphan: the orphan finalizer strips the owner's references from
its dependents, then goes. A terminating namespace deletes its content, then itself.

Like the real namespace controller, which works from a queue after the DELETE has been answered,
the content of a terminating namespace is left alone for `ns_delay` seconds: a client deleting
the namespace and then the objects in it (`kubectl delete -k`) still finds them (200, not 404)."""
import copy
import threading
import time


class GarbageCollector:
    def __init__(self, app, interval=0.1, ns_delay=0.5):
        self.app = app
        self.interval = interval
        self.ns_delay = ns_delay
        self.stop_ev = threading.Event()
        self.watcher = None
        self._terminating_since = {}  # namespace uid -> monotonic time it was first seen terminating
        self._next_due = None  # monotonic time a namespace's delay runs out (a sweep is due then)
        self._owners = set()  # uids named in an ownerReference seen on the watch

    def start(self):
        self.watcher = self.app.store.watch(None)[0]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        dirty = True  # one sweep at start for whatever was stored before
        while not self.stop_ev.is_set():
            timeout = 1.0
            if self._next_due is not None:
                timeout = min(timeout, max(0.0, self._next_due - time.monotonic()))
            try:
                dirty = self._relevant(self.watcher.q.get(timeout=timeout)) or dirty
            except Exception:
                pass
            # coalesce bursts of events into one pass
            while not self.watcher.q.empty():
                dirty = self._relevant(self.watcher.q.get_nowait()) or dirty
            due = self._next_due is not None and time.monotonic() >= self._next_due
            if not (dirty or due or self._terminating_since):
                continue
            dirty = False
            began = time.monotonic()
            try:
                self.sweep()
            except Exception as e:  # keep collecting; a test will notice what was not collected
                print("gc: %r" % (e,), flush=True)
            # a sweep walks every object under the store lock: while writes keep coming (a
            # benchmark creating 100,000 objects) let them batch up, so sweeps take at most
            # about a fifth of the time
            self.stop_ev.wait(min(1.0, max(self.interval, 4 * (time.monotonic() - began))))

    def _relevant(self, ev):
        """Whether an event can give a sweep work, as the real collector's graph builder only
        queues what it affects: a sweep walks every object under the store lock, and sweeping
        on every write held each request of a 1,000-cluster mesh up by milliseconds."""
        if ev is None or not hasattr(ev, "obj"):
            return True
        md = ev.obj.get("metadata") or {}
        if ev.gr == ("", "namespaces") or md.get("ownerReferences") or md.get("deletionTimestamp"):
            for ref in md.get("ownerReferences") or []:
                self._owners.add(ref.get("uid"))
            return True
        # a deleted owner leaves dependents to collect
        return ev.type == "DELETED" and md.get("uid") in self._owners

    def sweep(self):
        api = self.app.api
        store = self.app.store
        with store.lock:
            terminating = {o["metadata"]["name"] for o in store.list(("", "namespaces"))[0]
                           if o["metadata"].get("deletionTimestamp")}
            # only what the collectors act on: owned, deleting, or namespaces
            objs = store.all_objects(lambda gr, o: gr == ("", "namespaces") or
                                     o["metadata"].get("ownerReferences") or o["metadata"].get("deletionTimestamp")
                                     or o["metadata"].get("namespace") in terminating)
            live = store.uid_set()
            dependents = {}
            for gr, o in objs:
                for ref in o["metadata"].get("ownerReferences") or []:
                    dependents.setdefault(ref.get("uid"), []).append((gr, o))
            for gr, o in objs:
                md = o["metadata"]
                fins = md.get("finalizers") or []
                if not md.get("deletionTimestamp"):
                    continue
                deps = dependents.get(md["uid"], [])
                if "orphan" in fins:
                    for dgr, d in deps:
                        nd = copy.deepcopy(d)
                        nd["metadata"]["ownerReferences"] = [r for r in d["metadata"]["ownerReferences"]
                                                             if r.get("uid") != md["uid"]]
                        if not nd["metadata"]["ownerReferences"]:
                            del nd["metadata"]["ownerReferences"]
                        api.internal_update(dgr, nd, "kube-controller-manager")
                    self._drop_finalizer(gr, o, "orphan")
                elif "foregroundDeletion" in fins:
                    blocking = False
                    for dgr, d in deps:
                        if not d["metadata"].get("deletionTimestamp"):
                            api.internal_delete(dgr, d["metadata"].get("namespace", ""), d["metadata"]["name"],
                                                "Foreground")
                        cur = store.get(dgr, d["metadata"].get("namespace", ""), d["metadata"]["name"])
                        if cur is not None and any(r.get("uid") == md["uid"] and r.get("blockOwnerDeletion")
                                                   for r in cur["metadata"].get("ownerReferences") or []):
                            blocking = True
                    if not blocking:
                        self._drop_finalizer(gr, o, "foregroundDeletion")
            for gr, o in objs:
                refs = o["metadata"].get("ownerReferences") or []
                if not refs or o["metadata"].get("deletionTimestamp"):
                    continue
                alive = [r for r in refs if r.get("uid") in live]
                if not alive:
                    api.internal_delete(gr, o["metadata"].get("namespace", ""), o["metadata"]["name"])
                elif len(alive) != len(refs):
                    cur = store.get(gr, o["metadata"].get("namespace", ""), o["metadata"]["name"])
                    if cur is not None:
                        cur["metadata"]["ownerReferences"] = alive
                        api.internal_update(gr, cur, "kube-controller-manager")
            self._namespaces(objs)

    def _drop_finalizer(self, gr, o, fin):
        cur = self.app.store.get(gr, o["metadata"].get("namespace", ""), o["metadata"]["name"])
        if cur is None:
            return
        cur["metadata"]["finalizers"] = [f for f in cur["metadata"].get("finalizers") or [] if f != fin]
        self.app.api.internal_update(gr, cur, "kube-controller-manager")

    def _namespaces(self, objs):
        api = self.app.api
        store = self.app.store
        now = time.monotonic()
        seen = set()
        self._next_due = None
        for gr, ns in objs:
            if gr != ("", "namespaces") or not ns["metadata"].get("deletionTimestamp"):
                continue
            uid = ns["metadata"].get("uid")
            seen.add(uid)
            since = self._terminating_since.setdefault(uid, now)
            if now - since < self.ns_delay:
                due = since + self.ns_delay
                self._next_due = due if self._next_due is None else min(self._next_due, due)
                continue
            name = ns["metadata"]["name"]
            content = [(g, o) for g, o in objs if o["metadata"].get("namespace") == name and g != gr]
            for g, o in content:
                if not o["metadata"].get("deletionTimestamp"):
                    api.internal_delete(g, name, o["metadata"]["name"])
            remaining = [1 for g, o in content if store.get(g, name, o["metadata"]["name"]) is not None]
            if not remaining:
                cur = store.get(gr, "", name)
                if cur is not None and (cur.get("spec") or {}).get("finalizers"):
                    cur["spec"]["finalizers"] = []
                    api.internal_update(gr, cur, "kube-controller-manager", sub="finalize")
        for uid in set(self._terminating_since) - seen:
            del self._terminating_since[uid]
