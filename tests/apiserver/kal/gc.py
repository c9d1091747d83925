"""Garbage collector and namespace controller emulation (kube-controller-manager's work).

Background: a dependent whose owners are all gone is deleted. Foreground: an owner carrying the
foregroundDeletion finalizer deletes its dependents and keeps the finalizer until no dependent
with blockOwnerDeletion remains. Orphan: the orphan finalizer strips the owner's references from
its dependents, then goes. A terminating namespace deletes its content, then itself."""
import copy
import threading


class GarbageCollector:
    def __init__(self, app, interval=0.1):
        self.app = app
        self.interval = interval
        self.stop_ev = threading.Event()
        self.watcher = None

    def start(self):
        self.watcher = self.app.store.watch(None)[0]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stop_ev.is_set():
            try:
                self.watcher.q.get(timeout=1.0)
            except Exception:
                pass
            # coalesce bursts of events into one pass
            while not self.watcher.q.empty():
                self.watcher.q.get_nowait()
            try:
                self.sweep()
            except Exception as e:  # keep collecting; a test will notice what was not collected
                print("gc: %r" % (e,), flush=True)

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
        for gr, ns in objs:
            if gr != ("", "namespaces") or not ns["metadata"].get("deletionTimestamp"):
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
