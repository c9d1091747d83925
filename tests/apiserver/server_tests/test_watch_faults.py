#!/usr/bin/python3
"""Proves watch semantics and fault injection: synthetic ADDED on a fresh watch, resume from a
resourceVersion, selector transitions (MODIFIED out of the selector is DELETED), BOOKMARKs
(only with a version the client lacks), timeoutSeconds, 410 Expired as a 200 + ERROR event once
history is gone (window and compaction),
a resourceVersion from the future waited for, sendInitialEvents; injected failures (Status with
Retry-After), dropped watches, listener stop/restart keeping the store, and the request log."""
import http.client
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import Server  # noqa: E402

CMS = "/api/v1/namespaces/default/configmaps"


def cm(name, labels=None):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}}}


class WatchFaults(unittest.TestCase):
    def setUp(self):
        self.s = Server("--history", "5", "--bookmark-interval", "0.3")

    def tearDown(self):
        self.s.stop()

    def test_watch_from_scratch_and_resume(self):
        s = self.s
        s.request("POST", CMS, cm("a"))
        evs = list(s.watch(CMS + "?watch=true&timeoutSeconds=1"))
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in evs], [("ADDED", "a")])
        self.assertEqual(evs[0]["object"]["kind"], "ConfigMap")
        rv = s.get(CMS)[2]["metadata"]["resourceVersion"]
        s.request("POST", CMS, cm("b", {"x": "1"}))
        s.request("PATCH", CMS + "/b", {"metadata": {"labels": {"x": "2"}}}, ctype="application/merge-patch+json")
        s.request("DELETE", CMS + "/b")
        evs = list(s.watch(CMS + "?watch=true&timeoutSeconds=1&resourceVersion=" + rv))
        self.assertEqual([e["type"] for e in evs], ["ADDED", "MODIFIED", "DELETED"])
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
        self.assertEqual(rvs, sorted(rvs))
        self.assertEqual(rvs[0], int(rv) + 1)
        # exact list reads: the state at a past resourceVersion, from the history
        lst = s.get(CMS + "?limit=10&resourceVersion=" + rv)[2]
        self.assertEqual([o["metadata"]["name"] for o in lst["items"]], ["a"])
        self.assertEqual(lst["metadata"]["resourceVersion"], rv)
        lst = s.get(CMS + "?resourceVersionMatch=Exact&resourceVersion=%d" % rvs[1])[2]
        self.assertEqual([(o["metadata"]["name"], o["metadata"]["labels"]) for o in lst["items"]],
                         [("a", {}), ("b", {"x": "2"})])
        code, _, st = s.get(CMS + "?resourceVersionMatch=Exact&resourceVersion=0")
        self.assertEqual((code, st["reason"]), (422, "Invalid"))
        evs = list(s.watch(CMS + "?watch=true&timeoutSeconds=1&labelSelector=x%3D1&resourceVersion=" + rv))
        self.assertEqual([e["type"] for e in evs], ["ADDED", "DELETED"], "leaving the selector is DELETED")

    def test_bookmarks_and_expiry(self):
        s = self.s
        rv0 = s.get(CMS)[2]["metadata"]["resourceVersion"]
        # nothing new: no bookmark (the real watch cache sends none that the client has)
        evs = list(s.watch(CMS + "?watch=true&allowWatchBookmarks=true&timeoutSeconds=1&resourceVersion=" + rv0))
        self.assertEqual(evs, [])
        # a write elsewhere moves the version on: bookmarks carry it
        t = threading.Timer(0.1, lambda: s.request("POST", "/api/v1/namespaces/default/secrets", {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "elsewhere"}}))
        t.start()
        evs = list(s.watch(CMS + "?watch=true&allowWatchBookmarks=true&timeoutSeconds=1&resourceVersion=" + rv0))
        t.join()
        self.assertTrue(evs and all(e["type"] == "BOOKMARK" for e in evs), evs)
        self.assertEqual(set(evs[0]["object"]["metadata"]), {"resourceVersion"})
        self.assertGreater(int(evs[0]["object"]["metadata"]["resourceVersion"]), int(rv0))
        for i in range(8):  # history window is 5
            s.request("POST", CMS, cm("h%d" % i))
        evs = list(s.watch(CMS + "?watch=true&timeoutSeconds=2&resourceVersion=" + rv0))
        self.assertEqual(len(evs), 1)
        self.assertEqual(evs[0]["type"], "ERROR")
        st = evs[0]["object"]
        self.assertEqual((st["kind"], st["code"], st["reason"], st["status"]), ("Status", 410, "Expired", "Failure"))
        cur = s.get(CMS)[2]["metadata"]["resourceVersion"]
        self.assertEqual(list(s.watch(CMS + "?watch=true&timeoutSeconds=1&resourceVersion=" + cur)), [])
        s.control("/compact")
        evs = list(s.watch(CMS + "?watch=true&timeoutSeconds=1&resourceVersion=" + cur))
        self.assertEqual(evs[0]["object"]["code"], 410)
        self.assertEqual(s.get(CMS + "?limit=5&resourceVersion=" + rv0)[2]["reason"], "Expired")
        # the real watch cache waits for a version from the future, then sends what follows it
        future = int(cur) + 2
        got = []
        t = threading.Thread(target=lambda: got.extend(s.watch(
            CMS + "?watch=true&timeoutSeconds=2&resourceVersion=%d" % future)))
        t.start()
        time.sleep(0.3)
        for i in range(3):
            s.request("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fut%d" % i}})
        t.join()
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in got], [("ADDED", "fut2")])
        evs = list(s.watch(CMS + "?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
                           "&resourceVersionMatch=NotOlderThan&timeoutSeconds=1"))
        bm = [e for e in evs if e["type"] == "BOOKMARK"]
        self.assertEqual(bm[0]["object"]["metadata"]["annotations"], {"k8s.io/initial-events-end": "true"})
        self.assertEqual(len([e for e in evs if e["type"] == "ADDED"]), 11)  # 8 + fut0..2
        code, _, st = s.get(CMS + "?watch=true&sendInitialEvents=true")
        self.assertEqual((code, st["reason"]), (422, "Invalid"))

    def test_faults(self):
        s = self.s
        s.control("/fail", {"count": 2, "code": 503, "retryAfter": 4, "path_regex": "configmaps"})
        for _ in range(2):
            code, headers, st = s.get(CMS)
            self.assertEqual((code, st["reason"], st["details"]["retryAfterSeconds"]), (503, "ServiceUnavailable", 4))
            self.assertEqual(headers["Retry-After"], "4")
        self.assertEqual(s.get(CMS)[0], 200)
        s.control("/fail", {"count": 1, "code": 410, "path_regex": "configmaps$", "query_regex": "watch="})
        self.assertEqual(s.get(CMS)[0], 200, "a list does not match a watch-only rule")
        self.assertEqual(s.get(CMS + "?watch=true")[2]["reason"], "Expired")
        s.control("/fail", {"count": 1, "code": 500})
        self.assertEqual(s.get("/api/v1/namespaces")[2]["reason"], "InternalError")

        # dropping watches ends the stream
        done = []

        def watcher():
            done.append(list(s.watch(CMS + "?watch=true&timeoutSeconds=30&resourceVersion=0", timeout=30)))
        t = threading.Thread(target=watcher)
        t.start()
        deadline = time.monotonic() + 10
        while s.control("/state")["watchers"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        s.control("/drop-watches")
        t.join(10)
        self.assertEqual(len(done), 1)

        # abort: the connection is reset mid-stream, no terminating chunk
        s.request("POST", CMS, cm("before-abort"))
        c = s.conn(timeout=10)
        c.request("GET", CMS + "?watch=true&resourceVersion=0&timeoutSeconds=30",
                  headers={"Authorization": "Bearer %s" % s.token})
        r = c.getresponse()
        self.assertEqual(json.loads(r.readline())["type"], "ADDED")
        s.control("/drop-watches", {"abort": True})
        with self.assertRaises((http.client.IncompleteRead, OSError)):
            while r.read(1024):
                pass
        c.close()

        # listener down: connections refused; up again on the same port with the store intact
        s.request("POST", CMS, cm("kept"))
        s.control("/listener", {"up": False})
        with self.assertRaises(OSError):
            c = s.conn(timeout=2)
            c.request("GET", "/version")
            c.getresponse()
        s.control("/listener", {"up": True})
        self.assertEqual(s.get(CMS + "/kept")[0], 200)

        s.control("/requests/clear")
        s.request("POST", CMS, cm("logged"), headers={"User-Agent": "probe/1"})
        log = s.control("/requests")
        self.assertEqual(len(log), 1)
        self.assertEqual({k: log[0][k] for k in ("method", "path", "content_type", "code", "user_agent")},
                         {"method": "POST", "path": CMS, "content_type": "application/json", "code": 201,
                          "user_agent": "probe/1"})


if __name__ == "__main__":
    unittest.main(verbosity=2)
