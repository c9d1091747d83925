"""End to end, the attacks of issue 18 items 2, 3 and 7 and the token handling of issue 14
items 6 and 7, against the test API server (real by default) with real kubectl and meshclusterd:

  rbac       meshclusterd runs with a token allowed exactly what deploy/'s RBAC grants (on a
             real server its ServiceAccount's token under those manifests). A remote
             with auth: secret gets its token from an opted-in Secret in the tailscale
             namespace; secretRefs aimed at istio-system/cacerts (ca-key.pem), at another
             namespace, at an unlabelled Secret and at a Secret holding no bearer token are
             refused, each naming the field or the Secret; cacerts' key appears in no remote
             secret. Rotating the token updates the remote secret from the watch (no GET of
             the Secret, one write); the measured latency is printed. A restart then makes
             no write. No request was answered 403 and no token reached the log.
  forbidden  the same RBAC without the token-Secret rule: the remote says TokenSecretForbidden,
             naming the Secret, and the other clusters are still served.
  loose      a CRD that checks nothing (as an old or hand-edited one might): the injection
             payload through every spec string field, 10,000 tags and a 1 MB region; every
             MeshCluster is refused by the daemon itself, naming the field, and no remote
             secret is written for any of them.
"""
import base64
import copy
import os
import sys
import tempfile
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as L  # noqa: E402
import rbac_allowlist  # noqa: E402
import test_e2e_adoption as A  # noqa: E402
import test_e2e_rbac as R  # noqa: E402

check, wait_condition = A.check, A.wait_condition

ISTIO = "istio-system"
TS = "tailscale"
LABEL = "meshcluster.io/remote-token"
CA_KEY = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIMESHCLUSTERCAKEYDONOTLEAK\n-----END EC PRIVATE KEY-----\n"
T1 = "eyJhbGciOiJSUzI1NiJ9.e2e-token-one.c2lnbmF0dXJl"
T2 = "eyJhbGciOiJSUzI1NiJ9.e2e-token-two.c2lnbmF0dXJl"
PAYLOAD = "x\n    insecure-skip-tls-verify: true\n"


def meshcluster(name, remote_secret=None, **spec):
    o = {"apiVersion": "meshcluster.io/v1alpha1", "kind": "MeshCluster", "metadata": {"name": name},
         "spec": {"meshID": "mesh1", "tailscale": {"tailnet": "your-tailnet.ts.net"}}}
    if remote_secret:
        o["spec"]["remoteSecret"] = remote_secret
    o["spec"].update(spec)
    return o


def secret_ref(name, namespace=None, key=None):
    ref = {"name": name}
    if namespace:
        ref["namespace"] = namespace
    if key:
        ref["key"] = key
    return {"auth": "secret", "secretRef": ref}


def apply(c, objs):
    c.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objs))


def token_secret(name, ns, data, labelled=True):
    o = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
         "type": "Opaque", "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
    if labelled:
        o["metadata"]["labels"] = {LABEL: "true"}
    return o


def kubeconfig_token(c, cluster):
    s = c.get("secret", "istio-remote-secret-" + cluster, ISTIO)
    if not s:
        return None
    kc = yaml.safe_load(base64.b64decode(s["data"][cluster]))
    return kc["users"][0]["user"].get("token")


def restricted_cluster(tmp, name, rbac_path):
    """A cluster whose c.restricted kubeconfig is allowed what rbac_path grants: on a real
    server the manifests applied and their ServiceAccount's own token, on the lite server an
    allow-list generated from them (--tokens-file)."""
    if L.REAL:
        c = L.Cluster(name, tmp)
        c.prepare(tmp)
        c.kubectl("create", "namespace", R.LEASE_NS)
        c.kubectl("create", "serviceaccount", "meshcluster-controller", "-n", R.LEASE_NS)
        c.kubectl("apply", "-f", rbac_path)
        token = c.kubectl("create", "token", "meshcluster-controller", "-n", R.LEASE_NS,
                          "--duration=24h").stdout.strip()
        c.restricted = R.restricted_kubeconfig(c.kubeconfig, token, os.path.join(c.dir, "kubeconfig-restricted"))
        return c
    token = "mc-secretref-" + os.urandom(8).hex()
    tokens = os.path.join(tmp, name + "-tokens.json")
    rbac_allowlist.main(["--rbac", rbac_path, "--token", token, "--out", tokens])
    c = L.Cluster(name, tmp, ["--tokens-file", tokens])
    c.prepare(tmp)
    c.kubectl("create", "namespace", R.LEASE_NS)
    c.restricted = R.restricted_kubeconfig(c.kubeconfig, token, os.path.join(c.dir, "kubeconfig-restricted"))
    return c


def scenario_rbac(tmp):
    c = restricted_cluster(tmp, "cluster1", R.RBAC)
    try:
        c.kubectl("create", "namespace", "other")
        apply(c, [
            token_secret("cacerts", ISTIO, {"ca-key.pem": CA_KEY, "ca-cert.pem": "x"}, labelled=False),
            token_secret("c2-token", TS, {"token": T1 + "\n"}),
            token_secret("c4-token", "other", {"token": T1}),
            token_secret("c5-token", TS, {"token": T1}, labelled=False),
            token_secret("c6-token", TS, {"token": "not a bearer token"}),
        ])
        apply(c, [
            meshcluster("cluster1"),
            meshcluster("cluster2", secret_ref("c2-token")),
            meshcluster("cluster3", dict(secret_ref("cacerts", ISTIO, "ca-key.pem"),
                                         server="https://attacker.example.com")),
            meshcluster("cluster4", secret_ref("c4-token", "other")),
            meshcluster("cluster5", secret_ref("c5-token")),
            meshcluster("cluster6", secret_ref("c6-token")),
        ])
        c.clear_requests()
        R.start_daemon(c, c.restricted)

        wait_condition(c, "cluster2", "RemoteSecretReady", "True")
        check(kubeconfig_token(c, "cluster2") == T1, "cluster2 token: %r" % kubeconfig_token(c, "cluster2"))
        x = wait_condition(c, "cluster3", "Accepted", "False", "SecretRefNotAllowed")
        check("spec.remoteSecret.secretRef" in x["message"] and "cacerts" in x["message"],
              "cluster3 message: %r" % x["message"])
        x = wait_condition(c, "cluster4", "Accepted", "False", "SecretRefNotAllowed")
        check("spec.remoteSecret.secretRef.namespace" in x["message"], "cluster4 message: %r" % x["message"])
        x = wait_condition(c, "cluster5", "RemoteSecretReady", "False", "TokenSecretMissing")
        check("tailscale/c5-token" in x["message"] and LABEL in x["message"], "cluster5 message: %r" % x["message"])
        x = wait_condition(c, "cluster6", "RemoteSecretReady", "False", "TokenInvalid")
        check("tailscale/c6-token" in x["message"], "cluster6 message: %r" % x["message"])
        for n in ("cluster3", "cluster4", "cluster5", "cluster6"):
            check(c.get("secret", "istio-remote-secret-" + n, ISTIO) is None, "remote secret written for " + n)
        for s in c.list("secrets", ns=ISTIO, selector="istio/multiCluster=true"):
            for v in (s.get("data") or {}).values():
                check("MESHCLUSTERCAKEY" not in base64.b64decode(v).decode(errors="replace"),
                      "the CA key reached " + s["metadata"]["name"])
        print("secretRef to cacerts, another namespace, an unlabelled Secret, a non-token: refused")

        # Rotation: one watch event, one write, no read of the Secret by name.
        c.clear_requests()
        t0 = time.monotonic()
        c.kubectl("patch", "secret", "c2-token", "-n", TS, "--type=merge",
                  "-p", '{"data":{"token":"%s"}}' % base64.b64encode(T2.encode()).decode())
        L.wait_for("rotated token in the remote secret", lambda: kubeconfig_token(c, "cluster2") == T2, 10)
        latency = time.monotonic() - t0
        mine = [r for r in c.requests() if (r.get("user_agent") or "").startswith("meshcluster")]
        gets = [r["path"] for r in mine if r["method"] == "GET" and "/secrets/" in r["path"]]
        check(not gets, "the token Secret was read by name (polled): %r" % gets)
        writes = [r["path"] for r in mine if r["method"] in L.WRITE_METHODS and "istio-remote-secret-cluster2" in r["path"]]
        check(len(writes) == 1, "writes of the remote secret after rotation: %r" % writes)
        print("token rotation applied from the watch in %.2f s (kubectl included), 1 write" % latency)

        # A restart finds every token in place: no write (no TokenPending flap either). Lease
        # renewals are leader election's, not the controller's.
        check(c.stop_daemon() == 0, "exit code after SIGTERM")
        c.clear_requests()
        R.start_daemon(c, c.restricted)
        L.wait_for("restarted daemon reads", lambda: any(
            (r.get("user_agent") or "").startswith("meshcluster") for r in c.requests()), 10)
        time.sleep(4.0)  # sync, then passes; the log still holds everything since the restart
        w = [(r["method"], r["path"]) for r in c.daemon_writes() if "/leases/" not in r["path"]]
        check(w == [], "writes after a restart: %r" % w)
        print("restart with token Secrets in place: zero writes")

        R.check_no_403(c)
        log = c.daemon_log()
        check(T1 not in log and T2 not in log and "MESHCLUSTERCAKEY" not in log, "a token reached the log")
        check(c.stop_daemon() == 0, "exit code after SIGTERM")
        print("rbac: ok (no 403 under the shipped RBAC)")
    except BaseException:
        sys.stderr.write("---- daemon log (tail)\n%s\n" % c.daemon_log()[-6000:])
        raise
    finally:
        c.close()


def scenario_forbidden(tmp):
    with open(R.RBAC) as f:
        docs = list(yaml.safe_load_all(f))
    for d in docs:
        if d and d["kind"] == "Role" and d["metadata"]["namespace"] == TS:
            d["rules"] = [r for r in d["rules"] if "secrets" not in r["resources"]]
    stripped = os.path.join(tmp, "rbac-no-token-secrets.yaml")
    with open(stripped, "w") as f:
        yaml.safe_dump_all(docs, f)
    c = restricted_cluster(tmp, "forbidden", stripped)
    try:
        apply(c, [token_secret("c2-token", TS, {"token": T1}),
                  meshcluster("forbidden"), meshcluster("cluster2", secret_ref("c2-token"))])
        R.start_daemon(c, c.restricted)
        x = wait_condition(c, "cluster2", "RemoteSecretReady", "False", "TokenSecretForbidden")
        check("tailscale/c2-token" in x["message"] and "Forbidden" in x["message"], "message: %r" % x["message"])
        wait_condition(c, "forbidden", "Ready", "True")
        wait_condition(c, "cluster2", "EgressReady", "True")
        check(c.stop_daemon() == 0, "exit code after SIGTERM")
        print("forbidden: ok (TokenSecretForbidden names the Secret; the others are served)")
    except BaseException:
        sys.stderr.write("---- daemon log (tail)\n%s\n" % c.daemon_log()[-6000:])
        raise
    finally:
        c.close()


FIELDS = [
    ("spec.network", None),
    ("spec.meshID", None),
    ("spec.locality.region", None),
    ("spec.locality.zone", None),
    ("spec.tailscale.tailnet", None),
    ("spec.tailscale.apiServerProxyHostname", None),
    ("spec.tailscale.eastWestGatewayHostname", None),
    ("spec.tailscale.gatewayTags[0]", None),
    ("spec.tailscale.proxyClass", None),
    ("spec.remoteSecret.secretRef.namespace", None),
    ("spec.remoteSecret.secretRef.name", None),
    ("spec.remoteSecret.secretRef.key", None),
    ("spec.remoteSecret.server", "https://" + PAYLOAD),
    ("spec.trust.rootCAFingerprint", None),
]


def set_field(obj, path, value):
    keys = path.split(".")
    for k in keys[:-1]:
        obj = obj.setdefault(k, {})
    last = keys[-1]
    if last.endswith("[0]"):
        obj[last[:-3]] = [value]
    else:
        obj[last] = value


def scenario_loose(tmp):
    tmp2, (c,) = L.mesh(["cluster1"])
    try:
        with open(L.CRD) as f:
            crd = yaml.safe_load(f)
        v = crd["spec"]["versions"][0]
        v["schema"] = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
        c.kubectl("apply", "-f", "-", input=yaml.safe_dump(crd))
        objs, want = [meshcluster("cluster1")], {}
        for i, (field, value) in enumerate(FIELDS):
            name = "f%02d" % i
            o = meshcluster(name)
            set_field(o, field, value or PAYLOAD)
            objs.append(o)
            want[name] = field
        o = meshcluster("tags")
        o["spec"]["tailscale"]["gatewayTags"] = ["tag:t%d" % i for i in range(10000)]
        objs.append(o)
        want["tags"] = "spec.tailscale.gatewayTags"
        o = meshcluster("region")
        o["spec"]["locality"] = {"region": "r" * (1 << 20)}
        objs.append(o)
        want["region"] = "spec.locality.region"
        with open(os.path.join(tmp, "loose.yaml"), "w") as f:
            yaml.safe_dump_all(objs, f)
        c.kubectl("apply", "--server-side", "-f", os.path.join(tmp, "loose.yaml"))
        c.start_daemon()
        wait_condition(c, "cluster1", "Ready", "True", timeout=60)
        for name, field in want.items():
            x = wait_condition(c, name, "Accepted", "False")
            check(field in x["message"], "%s: %s not named in %r" % (name, field, x["message"][:300]))
            check(c.get("secret", "istio-remote-secret-" + name, ISTIO) is None, "remote secret for " + name)
        check(c.stop_daemon() == 0, "exit code after SIGTERM")
        print("loose CRD: the payload in %d fields, 10,000 tags and a 1 MB region refused by the daemon"
              % len(FIELDS))
    except BaseException:
        sys.stderr.write("---- daemon log (tail)\n%s\n" % c.daemon_log()[-6000:])
        raise
    finally:
        c.close()
        L.cleanup(tmp2)


def main():
    which = sys.argv[1:] or ["rbac", "forbidden", "loose"]
    tmp = tempfile.mkdtemp(prefix="mc-e2e-secretref-")
    try:
        for w in which:
            {"rbac": scenario_rbac, "forbidden": scenario_forbidden, "loose": scenario_loose}[w](tmp)
    finally:
        L.cleanup(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
