"""Objects, one global resourceVersion counter, and an event history for watch resume.

Every object of a group-resource lives in one map keyed by (namespace, name), with its keys also
kept in a sorted list, so a page of a list starts at a bisect position and costs O(page), not
O(collection); a page at an older resourceVersion overlays the values the history's later events
replaced, instead of rebuilding the whole collection. Each write takes
the next resourceVersion and appends an event to a bounded history; watchers get events through
their own queue. `floor` is the newest resourceVersion whose events are forgotten: resuming a
watch at or below it answers 410 Expired.
"""
import bisect
import collections
import copy
import heapq
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
        # nothing forgotten yet: a resume from any older version replays the whole history, as
        # etcd does until it compacts
        self.floor = 0
        self.epoch = 0  # bumped by compaction; continue tokens carry it
        self.watchers = set()
        self.uids = {}  # uid -> (gr, ns, name)
        self.keys = collections.defaultdict(list)  # gr -> the sorted keys of objects[gr]

    # ---- reads -------------------------------------------------------------------------
    def get(self, gr, ns, name):
        with self.lock:
            o = self.objects[gr].get((ns or "", name))
            return copy.deepcopy(o) if o is not None else None

    def list(self, gr, ns=None):
        """Sorted (namespace, name) snapshot plus the resourceVersion it was read at."""
        with self.lock:
            objs = self.objects[gr]
            keys = self.keys[gr]
            lo, hi = _bounds(keys, ns)
            return [copy.deepcopy(objs[keys[i]]) for i in range(lo, hi)], self.rv

    def get_now(self, gr, ns, name):
        """An object as of every write already acknowledged: the store is the server here."""
        return self.get(gr, ns, name)

    def list_any(self, gr):
        """Every object of a collection that may not exist (a CRD not installed): [] then."""
        return self.list(gr)[0]

    def peek(self, gr, ns=None):
        """The stored objects themselves, in key order, not copies: for internal controllers
        that scan a collection on every event and change few of its objects. A write replaces
        the stored object and never changes it in place, so each reference stays a consistent
        snapshot; callers must copy an object before changing it."""
        with self.lock:
            objs = self.objects[gr]
            keys = self.keys[gr]
            lo, hi = _bounds(keys, ns)
            return [objs[keys[i]] for i in range(lo, hi)]

    def peek_object(self, gr, ns, name):
        """The stored object itself (see peek), or None."""
        with self.lock:
            return self.objects[gr].get((ns or "", name))

    def page(self, gr, ns=None, at=None, after=None, limit=0, keep=None):
        """One page in key order: copies of up to `limit` objects (every one when 0) that `keep`
        accepts, with keys after `after`, as the collection was at resourceVersion `at` (None:
        now). Returns (items, more, remaining): `more` when another accepted object follows the
        page, `remaining` how many objects (accepted or not) follow it; None when the history no
        longer reaches back to `at`."""
        with self.lock:
            objs = self.objects[gr]
            keys = self.keys[gr]
            overlay = {}  # key -> its value at `at` (None: absent then), for keys written since
            if at is not None:
                if self.too_old(at):
                    return None
                for ev in reversed(self.history):
                    if ev.rv <= at:
                        break
                    if ev.gr == gr:
                        md = ev.obj["metadata"]
                        overlay[(md.get("namespace", "") or "", md["name"])] = ev.prev
            lo, hi = _bounds(keys, ns)
            if after is not None:
                after = tuple(after)
                lo = max(lo, bisect.bisect_right(keys, after))

            def wanted(k):
                return (not ns or k[0] == ns) and (after is None or k > after)
            gone = sorted(k for k, v in overlay.items() if v is not None and k not in objs and wanted(k))
            items, more, last = [], False, after
            for k in heapq.merge((keys[i] for i in range(lo, hi)), gone):
                v = overlay[k] if k in overlay else objs[k]
                if v is None or (keep is not None and not keep(v)):
                    continue
                if limit and len(items) == limit:
                    more = True
                    break
                items.append(copy.deepcopy(v))
                last = k
            remaining = 0
            if more:
                remaining = hi - bisect.bisect_right(keys, last, lo, hi)
                for k, v in overlay.items():
                    if k > last and (not ns or k[0] == ns):
                        remaining += (v is not None) - (k in objs)
            return items, more, remaining

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
            if prev is None:
                bisect.insort(self.keys[gr], key)
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
            keys = self.keys[gr]
            del keys[bisect.bisect_left(keys, key)]
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
            self.keys.pop(gr, None)

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


def _bounds(keys, ns):
    """Index range of the sorted keys in namespace ns (every key when ns is empty)."""
    if not ns:
        return 0, len(keys)
    # (ns,) sorts before every (ns, name); (ns + "\0",) after them and before any later namespace
    return bisect.bisect_left(keys, (ns,)), bisect.bisect_left(keys, (ns + "\0",))
