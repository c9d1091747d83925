"""Proves kal.store pages a collection exactly like a full sorted snapshot would: after random
creates, updates and deletes across namespaces, paging (any limit, one namespace or all, with and
without a filter) from the current state and from every earlier resourceVersion the history still
holds yields the objects that existed then, in key order, with the right `more` flag and count of
remaining objects; a resourceVersion older than the history is refused."""
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from kal.store import Store  # noqa: E402

GR = ("", "configmaps")
OTHER = ("", "secrets")


def obj(ns, name, gen):
    return {"metadata": {"namespace": ns, "name": name, "uid": "%s/%s" % (ns, name)}, "data": {"g": str(gen)}}


def reference(state, ns, keep):
    keys = sorted(k for k in state if not ns or k[0] == ns)
    return [state[k] for k in keys if keep is None or keep(state[k])]


def names(items):
    return [(o["metadata"]["namespace"], o["metadata"]["name"], o["data"]["g"]) for o in items]


class TestPaging(unittest.TestCase):
    def walk(self, store, ns, at, limit, keep):
        """Every page from the start; checks `more` and `remaining` on the way."""
        out, after = [], None
        for _ in range(10000):
            got = store.page(GR, ns, at, after, limit, keep)
            self.assertIsNotNone(got)
            items, more, remaining = got
            out += items
            if not more:
                self.assertEqual(remaining, 0)
                return out
            self.assertEqual(len(items), limit)
            after = (items[-1]["metadata"]["namespace"], items[-1]["metadata"]["name"])
            self.assertGreater(remaining, 0)
            if keep is None:
                self.assertEqual(remaining, self._left(store, ns, at, after))
        self.fail("paging did not end")

    def _left(self, store, ns, at, after):
        items, _, _ = store.page(GR, ns, at, after, 0, None)
        return len(items)

    def test_pages_match_snapshots_under_churn(self):
        rng = random.Random(7)
        store = Store(history=100000)
        state = {}
        snapshots = []
        for step in range(1500):
            ns = rng.choice(["a", "b", "ab", "c"])
            name = "o%03d" % rng.randrange(120)
            k = (ns, name)
            r = rng.random()
            if k in state and r < 0.3:
                store.remove(GR, ns, name)
                del state[k]
            else:
                stored = store.put(GR, obj(ns, name, step))
                state[k] = stored
            if rng.random() < 0.2:  # writes of another resource interleave in the history
                store.put(OTHER, obj(ns, name, step))
            if step % 150 == 0:
                snapshots.append((store.rv, dict(state)))
        snapshots.append((None, dict(state)))
        even = lambda o: int(o["data"]["g"]) % 2 == 0  # noqa: E731
        for at, snap in snapshots:
            for ns in ("", "a", "ab", "zz"):
                for limit in (0, 1, 7, 50):
                    for keep in (None, even):
                        with self.subTest(at=at, ns=ns, limit=limit, keep=keep is not None):
                            got = self.walk(store, ns, at, limit, keep)
                            self.assertEqual(names(got), names(reference(snap, ns, keep)))

    def test_full_list_and_too_old(self):
        store = Store(history=5)
        for i in range(10):
            store.put(GR, obj("n", "x%d" % i, i))
        items, rv = store.list(GR, "n")
        self.assertEqual([o["metadata"]["name"] for o in items], ["x%d" % i for i in range(10)])
        self.assertEqual(rv, store.rv)
        self.assertIsNone(store.page(GR, "n", store.rv - 8, None, 2))
        self.assertEqual(len(store.page(GR, "n", store.rv - 2, None, 0)[0]), 8)
        store.remove(GR, "n", "x3")
        self.assertEqual(len(store.list(GR)[0]), 9)
        store.drop_group_resource(GR)
        self.assertEqual(store.list(GR)[0], [])


if __name__ == "__main__":
    unittest.main()
