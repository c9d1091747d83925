"""Objects, one global resourceVersion counter, and an event history for watch resume.

Every object of a group-resource lives in one map keyed by (namespace, name). Each write takes
the next resourceVersion and appends an event to a bounded history; watchers get events through
their own queue. `floor` is the newest resourceVersion whose events are forgotten: resuming a
watch at or below it answers 410 Expired.
"""
import collections
import copy
import queue
import threading


class Event:
    __slots__ = ("rv", "gr", "type", "obj", "prev")

    def __init__(self, rv, gr, type_, obj, prev):
        self.rv = rv
        self.gr = gr
        self.type = type_
        self.obj = obj
        self.prev = prev


class Watcher:
    def __init__(self, gr):
        self.gr = gr  # None = every group-resource (internal controllers)
        self.q = queue.Queue()
        self.closed = False
        self.abort = False

    def close(self, abort=False):
        self.abort = abort
        self.closed = True
        self.q.put(None)


class Store:
    def __init__(self, history=1000):
        self.lock = threading.RLock()
        self.rv = 100
        self.objects = collections.defaultdict(dict)
        self.history = collections.deque(maxlen=max(1, history))
        self.floor = self.rv
        self.epoch = 0  # bumped by compaction; continue tokens carry it
        self.watchers = set()
        self.uids = {}  # uid -> (gr, ns, name)

    # ---- reads -------------------------------------------------------------------------
    def get(self, gr, ns, name):
        with self.lock:
            o = self.objects[gr].get((ns or "", name))
            return copy.deepcopy(o) if o is not None else None

    def list(self, gr, ns=None):
        """Sorted (namespace, name) snapshot plus the resourceVersion it was read at."""
        with self.lock:
            items = sorted(self.objects[gr].items())
            if ns:
                items = [kv for kv in items if kv[0][0] == ns]
            return [copy.deepcopy(v) for _, v in items], self.rv

    def list_at(self, gr, ns, rv):
        """The collection as it was at resourceVersion rv (None if history no longer reaches
        back): the current state with every later event of this group-resource undone."""
        with self.lock:
            if self.too_old(rv):
                return None
            state = dict(self.objects[gr])
            for ev in reversed(self.history):
                if ev.rv <= rv:
                    break
                if ev.gr != gr:
                    continue
                md = ev.obj["metadata"]
                key = (md.get("namespace", "") or "", md["name"])
                if ev.prev is None:
                    state.pop(key, None)
                else:
                    state[key] = ev.prev
            items = sorted(state.items())
            if ns:
                items = [kv for kv in items if kv[0][0] == ns]
            return [copy.deepcopy(v) for _, v in items]

    def exists_uid(self, uid):
        with self.lock:
            return uid in self.uids

    def all_objects(self, keep=None):
        """Copies of every object (for which keep(gr, obj) holds)."""
        with self.lock:
            out = []
            for gr, m in self.objects.items():
                for v in m.values():
                    if keep is None or keep(gr, v):
                        out.append((gr, copy.deepcopy(v)))
            return out

    def uid_set(self):
        with self.lock:
            return set(self.uids)

    # ---- writes ------------------------------------------------------------------------
    def _emit(self, gr, type_, obj, prev):
        ev = Event(self.rv, gr, type_, copy.deepcopy(obj), prev)
        if len(self.history) == self.history.maxlen:
            self.floor = max(self.floor, self.history[0].rv)
        self.history.append(ev)
        for w in list(self.watchers):
            if w.gr is None or w.gr == gr:
                w.q.put(ev)

    def put(self, gr, obj):
        """Create or replace; assigns the next resourceVersion. Returns the stored copy."""
        with self.lock:
            md = obj["metadata"]
            key = (md.get("namespace", "") or "", md["name"])
            prev = self.objects[gr].get(key)
            self.rv += 1
            md["resourceVersion"] = str(self.rv)
            stored = copy.deepcopy(obj)
            self.objects[gr][key] = stored
            if md.get("uid"):
                self.uids[md["uid"]] = (gr, key[0], key[1])
            self._emit(gr, "MODIFIED" if prev is not None else "ADDED", stored, prev)
            return copy.deepcopy(stored)

    def remove(self, gr, ns, name):
        """Deletes for good; the DELETED event carries the delete's resourceVersion."""
        with self.lock:
            key = (ns or "", name)
            prev = self.objects[gr].pop(key, None)
            if prev is None:
                return None
            self.uids.pop(prev["metadata"].get("uid"), None)
            self.rv += 1
            last = copy.deepcopy(prev)
            last["metadata"]["resourceVersion"] = str(self.rv)
            self._emit(gr, "DELETED", last, prev)
            return copy.deepcopy(last)

    def drop_group_resource(self, gr):
        with self.lock:
            for (ns, name) in list(self.objects[gr].keys()):
                self.remove(gr, ns, name)
            self.objects.pop(gr, None)

    # ---- watch -------------------------------------------------------------------------
    def watch(self, gr, since_rv=None, snapshot=False, ns=None):
        """Registers a watcher atomically with its starting point.

        Returns (watcher, initial_objects, start_rv, backlog). `since_rv` must already be
        checked with `too_old`."""
        with self.lock:
            w = Watcher(gr)
            initial = []
            backlog = []
            if snapshot:
                initial, _ = self.list(gr, ns) if gr is not None else ([], self.rv)
            elif since_rv is not None:
                backlog = [e for e in self.history if e.rv > since_rv and (gr is None or e.gr == gr)]
            self.watchers.add(w)
            return w, initial, self.rv, backlog

    def unwatch(self, w):
        with self.lock:
            self.watchers.discard(w)

    def too_old(self, rv):
        with self.lock:
            return rv < self.floor

    def drop_watchers(self, abort=False):
        """Ends every client watch (internal controllers, gr None, keep theirs)."""
        with self.lock:
            for w in list(self.watchers):
                if w.gr is None:
                    continue
                w.close(abort)
                self.watchers.discard(w)

    def compact(self):
        """Forgets every event so far: resuming from any resourceVersion issued until now is
        410 Expired, and continue tokens issued until now expire."""
        with self.lock:
            self.history.clear()
            self.floor = self.rv + 1
            self.epoch += 1
