#!/usr/bin/python3
"""Proves that Debian's python3-kubernetes client works against the test server like against a
real one: list + watch (an informer-style loop) that survives a forced 410 Expired by relisting,
paginated lists (later pages from the first page's snapshot) with continue tokens that expire
(410) after compaction, 403 Forbidden with the real message for a least-privilege token (and
`kubectl auth can-i` agreeing), RBAC resourceNames granting list and watch only when a
`metadata.name` field selector names the object, 401 after the admin token is rotated, and a
plain-text 429 with Retry-After that the client waits out and retries.

On a real server (the default) the faults come from the fault proxy (Server(faults=True)), the
least-privilege tokens are ServiceAccounts' under Roles, and the token rotation, which a real
server's static token file cannot do, is left out."""
import json
import threading
import unittest

from kubernetes import client, config, watch

from common import REAL, Server, main, wait_for

# kube-root-ca.crt: a real cluster's root-CA publisher puts it in every namespace.
SYSTEM_CMS = ["kube-root-ca.crt"] if REAL else []


def cms(**vs):
    """An informer's expected state: our ConfigMaps' v values and the cluster's own (no v)."""
    return dict({n: None for n in SYSTEM_CMS}, **vs)


def cm(name, v):
    return {"metadata": {"name": name}, "data": {"v": v}}


class Informer:
    """Minimal reflector: list, watch from the list's resourceVersion, relist on 410."""

    def __init__(self, api):
        self.api = api
        self.state = {}
        self.relists = 0
        self.expired = 0
        self.stop = False
        self.lock = threading.Lock()

    def run(self):
        rv = self.relist()
        while not self.stop:
            try:
                w = watch.Watch()
                for ev in w.stream(self.api.list_namespaced_config_map, "default", resource_version=rv,
                                   timeout_seconds=2, allow_watch_bookmarks=True):
                    o = ev["object"]
                    rv = o.metadata.resource_version
                    with self.lock:
                        if ev["type"] == "DELETED":
                            self.state.pop(o.metadata.name, None)
                        elif ev["type"] in ("ADDED", "MODIFIED"):
                            self.state[o.metadata.name] = o.data.get("v")
                    if self.stop:
                        break
            except client.ApiException as e:
                if e.status != 410:
                    raise
                self.expired += 1
                rv = self.relist()

    def relist(self):
        lst = self.api.list_namespaced_config_map("default")
        with self.lock:
            self.state = {i.metadata.name: i.data.get("v") for i in lst.items}
            self.relists += 1
        return lst.metadata.resource_version


def real_users(s):
    """The lite server's allow-list tokens as ServiceAccounts under Roles on a real server:
    reader may get, list and watch ConfigMaps in default; one only ConfigMap a."""
    out = {}
    for token, sa, names in (("reader-token", "reader", None), ("one-token", "one", ["a"])):
        rule = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}
        if names:
            rule["resourceNames"] = names
        s.kubectl("1.32", "create", "serviceaccount", sa, "-n", "default")
        s.kubectl("1.32", "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
             "metadata": {"name": sa, "namespace": "default"}, "rules": [rule]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": {"name": sa, "namespace": "default"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa},
             "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": "default"}]}]}))
        out[token] = (s.kubectl("1.32", "create", "token", sa, "-n", "default").stdout.strip(),
                      "system:serviceaccount:default:" + sa)
    return out


class PythonClientScenario(unittest.TestCase):
    def test_client(self):
        tokens = {"reader-token": {"user": "reader", "allow": [
            {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["configmaps"],
             "namespaces": ["default"]}]},
                  "one-token": {"user": "one", "allow": [
            {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["configmaps"],
             "namespaces": ["default"], "resourceNames": ["a"]}]}}
        with Server("--history", "50", tokens=None if REAL else tokens, faults=True) as s:
            cfg = client.Configuration()
            config.load_kube_config(s.kubeconfig, client_configuration=cfg)
            api = client.CoreV1Api(client.ApiClient(cfg))
            # token name -> (bearer token, user name in the API server's messages)
            self.users = real_users(s) if REAL else {t: (t, v["user"]) for t, v in tokens.items()}
            self.informer(s, api)
            self.pagination(s, api)
            self.forbidden(s, cfg)
            self.throttled(s, api)
            if not REAL:
                self.unauthorized(s, api)

    def informer(self, s, api):
        inf = Informer(api)
        t = threading.Thread(target=inf.run, daemon=True)
        t.start()
        api.create_namespaced_config_map("default", cm("a", "1"))
        wait_for(lambda: inf.state.get("a") == "1", what="informer sees a")
        api.create_namespaced_config_map("default", cm("b", "1"))
        api.patch_namespaced_config_map("a", "default", {"data": {"v": "2"}})
        wait_for(lambda: inf.state == cms(a="2", b="1"), what="informer state")
        # forget all history, then cut the watch: the resume from the last seen version is 410
        s.control("/compact")
        s.control("/drop-watches")
        wait_for(lambda: inf.relists >= 2, timeout=15, what="relist after 410")
        api.create_namespaced_config_map("default", cm("c", "1"))
        wait_for(lambda: inf.state == cms(a="2", b="1", c="1"), what="informer state after relist")
        self.assertGreaterEqual(inf.expired, 1)
        api.delete_namespaced_config_map("b", "default")
        wait_for(lambda: "b" not in inf.state, what="informer sees delete")
        inf.stop = True
        t.join(10)
        # the 410 came as HTTP 200 + an ERROR event, like the real watch cache
        w = s.watch("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=101")
        ev = next(w)
        self.assertEqual(ev["type"], "ERROR")
        self.assertEqual((ev["object"]["code"], ev["object"]["reason"]), (410, "Expired"))
        self.assertRegex(ev["object"]["message"], r"^too old resource version: 101 \(\d+\)$")

    def pagination(self, s, api):
        for i in range(7):
            api.create_namespaced_config_map("default", cm("p%d" % i, str(i)))
        names, token, rvs, pages = [], None, set(), 0
        while True:
            lst = api.list_namespaced_config_map("default", limit=3, _continue=token)
            pages += 1
            names += [i.metadata.name for i in lst.items]
            rvs.add(lst.metadata.resource_version)
            token = lst.metadata._continue
            if not token:
                self.assertIsNone(lst.metadata.remaining_item_count)
                break
            self.assertIsNotNone(lst.metadata.remaining_item_count)
        self.assertEqual(names, ["a", "c"] + SYSTEM_CMS + ["p%d" % i for i in range(7)])
        self.assertEqual((pages, len(rvs)), ((len(names) + 2) // 3, 1))
        # later pages come from the first page's snapshot: changes made meanwhile do not show
        first = api.list_namespaced_config_map("default", limit=3)
        api.create_namespaced_config_map("default", cm("p9", "9"))
        api.delete_namespaced_config_map("p5", "default")
        rest, token = [], first.metadata._continue
        while token:
            lst = api.list_namespaced_config_map("default", limit=3, _continue=token)
            self.assertEqual(lst.metadata.resource_version, first.metadata.resource_version)
            rest += [i.metadata.name for i in lst.items]
            token = lst.metadata._continue
        self.assertEqual(rest, names[3:])  # p5 still there, p9 not yet
        s.control("/compact")
        with self.assertRaises(client.ApiException) as e:
            api.list_namespaced_config_map("default", limit=3, _continue=first.metadata._continue)
        self.assertEqual(e.exception.status, 410)
        self.assertIn('"reason":"Expired"', e.exception.body)
        self.assertIn("The provided continue parameter is too old", e.exception.body)

    def forbidden(self, s, admin_cfg):
        cfg = client.Configuration()
        cfg.host = admin_cfg.host
        cfg.ssl_ca_cert = admin_cfg.ssl_ca_cert
        reader, reader_user = self.users["reader-token"]
        cfg.api_key = {"authorization": "Bearer " + reader}
        api = client.CoreV1Api(client.ApiClient(cfg))
        self.assertTrue(len(api.list_namespaced_config_map("default").items) > 0)
        with self.assertRaises(client.ApiException) as e:
            api.list_namespaced_secret("default")
        self.assertEqual(e.exception.status, 403)
        self.assertIn('secrets is forbidden: User \\"%s\\" cannot list resource \\"secrets\\" in API group '
                      '\\"\\" in the namespace \\"default\\"' % reader_user, e.exception.body)
        with self.assertRaises(client.ApiException) as e:
            api.list_namespaced_config_map("kube-system")
        self.assertEqual(e.exception.status, 403)
        with self.assertRaises(client.ApiException) as e:
            api.create_namespaced_config_map("default", cm("nope", "1"))
        self.assertEqual(e.exception.status, 403)
        # kubectl auth can-i asks the same allow-list (SelfSubjectAccessReview)
        can = lambda *a: s.kubectl("1.32", "auth", "can-i", *a, "--token", reader, check=False).stdout.strip()  # noqa: E731
        self.assertEqual(can("list", "configmaps", "-n", "default"), "yes")
        self.assertEqual(can("list", "configmaps", "-n", "kube-system"), "no")
        self.assertEqual(can("create", "configmaps", "-n", "default"), "no")
        # resourceNames: a list or watch narrowed by a metadata.name field selector is authorized
        # as that one object (how a controller watches one object it may only get)
        one_token = self.users["one-token"][0]
        cfg.api_key = {"authorization": "Bearer " + one_token}
        one = client.CoreV1Api(client.ApiClient(cfg))
        lst = one.list_namespaced_config_map("default", field_selector="metadata.name=a")
        self.assertEqual([i.metadata.name for i in lst.items], ["a"])
        for sel in (None, "metadata.name=b", "metadata.name!=a"):
            with self.assertRaises(client.ApiException) as e:
                one.list_namespaced_config_map("default", field_selector=sel)
            self.assertEqual(e.exception.status, 403, sel)
        w = watch.Watch()
        got = [ev["object"].metadata.name for ev in w.stream(one.list_namespaced_config_map, "default",
                                                               field_selector="metadata.name=a",
                                                               timeout_seconds=1)]
        self.assertEqual(got, ["a"])
        out = s.kubectl("1.32", "get", "configmap", "-n", "default", "--token", one_token,
                        "--field-selector", "metadata.name=a", "-o", "name").stdout.strip()
        self.assertEqual(out, "configmap/a")

    def throttled(self, s, api):
        # priority-and-fairness style 429: plain text + Retry-After; urllib3 under the client
        # honours Retry-After and repeats the request, as client-go does
        s.control("/requests/clear")
        s.control("/fail", {"count": 1, "code": 429, "retryAfter": 1, "plain_text": True,
                            "path_regex": "/configmaps$"})
        self.assertTrue(len(api.list_namespaced_config_map("default").items) > 0)
        codes = [r["code"] for r in s.control("/requests") if r["path"].endswith("/configmaps")]
        self.assertEqual(codes, [429, 200])
        s.control("/fail", {"count": 1, "code": 429, "retryAfter": 3, "plain_text": True})
        code, headers, body = s.get("/api/v1/namespaces/default/configmaps")
        self.assertEqual((code, headers["Retry-After"]), (429, "3"))
        self.assertTrue(headers["Content-Type"].startswith("text/plain"))
        self.assertIsInstance(body, str)

    def unauthorized(self, s, api):
        s.control("/rotate-token", {"token": "fresh-token"})
        with self.assertRaises(client.ApiException) as e:
            api.list_namespaced_config_map("default")
        self.assertEqual(e.exception.status, 401)
        self.assertIn('"reason":"Unauthorized"', e.exception.body)
        p = s.kubectl("1.32", "get", "configmaps", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("You must be logged in to the server", p.stderr)
        p = s.kubectl("1.32", "get", "configmaps", "--token", "fresh-token", "-o", "name")
        self.assertIn("configmap/a", p.stdout)


if __name__ == "__main__":
    main()
