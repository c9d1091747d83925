#!/usr/bin/python3
"""Proves that kubectl's watch-based commands work against the test server (a real one through
the fault proxy, which ends the watches, or the lite server): `kubectl get -w` (collection and single name) sees ADDED/MODIFIED/DELETED, `kubectl delete`
waits while a finalizer holds the object and returns once it is removed, and
`kubectl wait --for=delete` completes when the object goes."""
import json
import subprocess
import time
import unittest

from common import Server, kubectl_versions, main, validate_args, wait_for


def events(output):
    dec = json.JSONDecoder()
    out, i = [], 0
    text = output.strip()
    while i < len(text):
        obj, j = dec.raw_decode(text, i)
        out.append(obj)
        i = j
        while i < len(text) and text[i].isspace():
            i += 1
    return out


def cm(name, data, finalizers=None):
    md = {"name": name, "namespace": "default"}
    if finalizers:
        md["finalizers"] = finalizers
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": data}


class WatchScenario(unittest.TestCase):
    def collect(self, s, *procs):
        """kubectl get -w exits once the server ends its watch: end them all, read what they
        printed."""
        s.control("/drop-watches")
        outs = []
        for proc in procs:
            try:
                outs.append(proc.communicate(timeout=20))
            except subprocess.TimeoutExpired:
                proc.kill()
                outs.append(proc.communicate())
        return outs

    def run_version(self, v):
        with Server(faults=True) as s:
            create = lambda o: s.kubectl(v, "create", *validate_args(v), "-f", "-", input=json.dumps(o))  # noqa: E731
            create(cm("before", {"a": "0"}))
            create(cm("w1", {"a": "1"}))
            w = s.popen_kubectl(v, "get", "configmaps", "-w", "--output-watch-events", "-o", "json")
            one = s.popen_kubectl(v, "get", "configmap", "w1", "-w", "-o", "json")
            wait_for(lambda: len([r for r in s.control("/requests") if "watch=true" in r["query"]]) >= 2,
                     what="both kubectl watches open")
            create(cm("w2", {"a": "1"}))
            s.kubectl(v, "patch", "configmap", "w1", "--type=merge", "-p", '{"data":{"a":"2"}}')
            s.kubectl(v, "delete", "configmap", "w1")
            (out, err), (out1, err1) = self.collect(s, w, one)
            # kube-root-ca.crt: a real cluster's root-CA publisher puts it in every namespace.
            evs = [(e["type"], e["object"]["metadata"]["name"], e["object"].get("data", {}).get("a"))
                   for e in events(out) if e["object"]["metadata"]["name"] != "kube-root-ca.crt"]
            self.assertEqual(evs, [("ADDED", "before", "0"), ("ADDED", "w1", "1"), ("ADDED", "w2", "1"),
                                   ("MODIFIED", "w1", "2"), ("DELETED", "w1", "2")], err)
            seen = [o.get("data", {}).get("a") for o in events(out1)]
            self.assertEqual(seen[0], "1", err1)
            self.assertIn("2", seen, err1)  # the single-object watch saw the change

            # delete blocks on a finalizer, returns when it is removed
            create(cm("held", {"a": "1"}, ["example.com/hold"]))
            d = s.popen_kubectl(v, "delete", "configmap", "held", "--timeout=60s")
            wait_for(lambda: "deletionTimestamp" in s.get("/api/v1/namespaces/default/configmaps/held")[2]["metadata"],
                     what="deletionTimestamp")
            time.sleep(0.5)
            self.assertIsNone(d.poll(), "kubectl delete must wait for the finalizer")
            held = s.get("/api/v1/namespaces/default/configmaps/held")[2]
            self.assertEqual(held["metadata"]["deletionGracePeriodSeconds"], 0)
            p = s.kubectl(v, "patch", "configmap", "held", "--type=merge", "-p",
                          '{"metadata":{"finalizers":["example.com/hold","example.com/new"]}}', check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("no new finalizers can be added if the object is being deleted", p.stderr)
            s.kubectl(v, "patch", "configmap", "held", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
            out, err = d.communicate(timeout=30)
            self.assertEqual(d.returncode, 0, err)
            self.assertIn('configmap "held" deleted', out)
            self.assertEqual(s.get("/api/v1/namespaces/default/configmaps/held")[0], 404)
            watches = [r for r in s.control("/requests") if "fieldSelector=metadata.name%3Dheld" in r["query"]]
            self.assertTrue(watches, "kubectl delete waits with a name field selector")

            # wait --for=delete
            create(cm("gone", {"a": "1"}))
            wt = s.popen_kubectl(v, "wait", "--for=delete", "configmap/gone", "--timeout=30s")
            wait_for(lambda: [r for r in s.control("/requests") if "watch=true" in r["query"]
                              and "metadata.name%3Dgone" in r["query"]], what="kubectl wait watching")
            s.kubectl(v, "delete", "configmap", "gone", "--wait=false")
            out, err = wt.communicate(timeout=40)
            self.assertEqual(wt.returncode, 0, err)

    def test_kubectl_versions(self):
        for v in kubectl_versions():
            with self.subTest(kubectl=v):
                self.run_version(v)


if __name__ == "__main__":
    main()
