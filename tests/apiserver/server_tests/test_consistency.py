#!/usr/bin/python3
"""Proves that list + watch against the server is consistent under churn: a reflector (list,
watch from the list's resourceVersion, resume from the last seen version after a dropped
watch, relist after 410) ends with exactly the server's state after a storm of creates,
updates and deletes from concurrent writers, with dropped watches and forced 410s in between.
Also checks that every stream delivers strictly increasing resourceVersions."""
import json
import os
import random
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import Server, wait_for  # noqa: E402

CMS = "/api/v1/namespaces/default/configmaps"


class Reflector:
    def __init__(self, s):
        self.s = s
        self.state = {}
        self.rv = None
        self.relists = 0
        self.resumes = 0
        self.stop = False
        self.errors = []

    def relist(self):
        lst = self.s.get(CMS)[2]
        self.state = {o["metadata"]["name"]: o["data"]["v"] for o in lst["items"]}
        self.rv = lst["metadata"]["resourceVersion"]
        self.relists += 1

    def run(self):
        try:
            self.relist()
            while not self.stop:
                last = 0
                expired = False
                for ev in self.s.watch(CMS + "?watch=true&allowWatchBookmarks=true&timeoutSeconds=5&resourceVersion="
                                       + self.rv, timeout=30):
                    if ev["type"] == "ERROR":
                        expired = ev["object"]["code"] == 410
                        break
                    rv = int(ev["object"]["metadata"]["resourceVersion"])
                    if rv < last or (rv == last and ev["type"] != "BOOKMARK"):
                        self.errors.append("resourceVersion went backwards: %d after %d" % (rv, last))
                    last = rv
                    self.rv = str(rv)
                    name = ev["object"]["metadata"].get("name")
                    if ev["type"] == "DELETED":
                        self.state.pop(name, None)
                    elif ev["type"] in ("ADDED", "MODIFIED"):
                        self.state[name] = ev["object"]["data"]["v"]
                if expired:
                    self.relist()
                else:
                    self.resumes += 1
        except Exception as e:  # reported by the test
            self.errors.append(repr(e))


class Consistency(unittest.TestCase):
    def test_storm(self):
        with Server("--history", "200", "--bookmark-interval", "0.5") as s:
            ref = Reflector(s)
            t = threading.Thread(target=ref.run, daemon=True)
            t.start()
            wait_for(lambda: ref.relists == 1, what="first list")

            def writer(seed, ops):
                rnd = random.Random(seed)
                for i in range(ops):
                    name = "cm-%d" % rnd.randrange(25)
                    op = rnd.random()
                    if op < 0.45:
                        s.request("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap",
                                                "metadata": {"name": name}, "data": {"v": "%d-%d" % (seed, i)}})
                    elif op < 0.8:
                        s.request("PATCH", CMS + "/" + name, json.dumps({"data": {"v": "%d-%d" % (seed, i)}}),
                                  ctype="application/merge-patch+json")
                    else:
                        s.request("DELETE", CMS + "/" + name)
            writers = [threading.Thread(target=writer, args=(seed, 150)) for seed in range(4)]
            for w in writers:
                w.start()
            for step in range(6):
                if step % 2:
                    s.control("/drop-watches")
                else:
                    s.control("/compact")
                    s.control("/drop-watches")
                threading.Event().wait(0.15)
            for w in writers:
                w.join(60)
            # quiet now: once the reflector has caught up, a compaction makes its resume a 410
            wait_for(lambda: ref.rv == s.get(CMS)[2]["metadata"]["resourceVersion"], timeout=15,
                     what="reflector caught up")
            relists = ref.relists
            s.control("/compact")
            s.control("/drop-watches")
            wait_for(lambda: ref.relists > relists, timeout=15, what="relist after forced 410")
            s.request("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after"},
                                    "data": {"v": "last"}})
            final = s.get(CMS)[2]
            want = {o["metadata"]["name"]: o["data"]["v"] for o in final["items"]}
            wait_for(lambda: ref.state == want, timeout=15, what="reflector converges: %s vs %s" % (ref.state, want))
            ref.stop = True
            s.control("/drop-watches")
            t.join(10)
            self.assertEqual(ref.errors, [])
            self.assertGreaterEqual(ref.relists, 2, "compaction forced at least one relist")
            self.assertGreaterEqual(ref.resumes, 1, "a dropped watch resumed without relisting")


if __name__ == "__main__":
    unittest.main(verbosity=2)
