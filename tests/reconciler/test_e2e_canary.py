"""End to end canary scan: secrets must never reach any output. Two clusters, each daemon at
--log-level debug, with a unique canary in
  - the kubeconfig bearer token (on a real server the daemon's ServiceAccount token from
    `kubectl create token`; on the lite server its admin token, so every request carries it),
  - the token Secret an `auth: secret` MeshCluster references (labelled
    meshcluster.io/remote-token=true and in the tailscale namespace, so it is read whatever
    the secretRef rules are), rotated once to a second canary,
  - the private key of istio-system/cacerts (ca-key.pem),
then converge, heal a deleted object, restart a daemon, and assert that no canary appears, raw,
base64 (every alignment, standard and URL-safe) or URL-encoded, in the daemons' logs, Events
(core and events.k8s.io), MeshCluster objects with their status, /metrics, or meshctl output
(render, pki verify). The remote Secret the daemon writes is the one place a token must be (it is
the product), and the test checks it is there, so "nowhere else" means something.
"""
import base64
import json
import os
import re
import secrets
import subprocess
import sys
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as L  # noqa: E402

ISTIO = "istio-system"
MESHCTL = os.path.join(L.BUILD, "meshctl")


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def canary(tag):
    # '+', '/' and '=' so the URL-encoded form differs from the raw one.
    return "CANARY+%s/%s=" % (tag, secrets.token_hex(10))


def forms(c):
    """Every spelling of c a leak could take."""
    raw = c.encode()
    out = {"raw": c, "url": urllib.parse.quote(c, safe=""), "url+": urllib.parse.quote_plus(c)}
    for k in range(3):
        for name, enc in (("b64", base64.b64encode), ("b64url", base64.urlsafe_b64encode)):
            e = enc(b"\0" * k + raw).decode()
            # Only the characters that depend on the canary's bytes alone.
            out["%s@%d" % (name, k)] = e[(4 * k + 2) // 3:((k + len(raw)) // 3) * 4]
    return out


def scan(where, text, canaries):
    for cname, c in canaries.items():
        for fname, f in forms(c).items():
            check(f not in text, "%s canary (%s) found in %s: ...%s..." % (
                cname, fname, where, text[max(0, text.find(f) - 80):text.find(f) + 80]))


def sh(*args):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "%s: %s%s" % (" ".join(args), p.stdout, p.stderr))
    return p.stdout + p.stderr


def obs_port(log_text):
    m = re.findall(r'msg="serving health and metrics" addr=\S+ port=(\d+)', log_text)
    return int(m[-1]) if m else None


def metrics(c):
    port = obs_port(c.daemon_log())
    check(port, "%s: no metrics port in the log" % c.name)
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        return r.read().decode()


REMOTE_SECRET_MC = """apiVersion: meshcluster.io/v1alpha1
kind: MeshCluster
metadata:
  name: cluster2
spec:
  meshID: mesh1
  tailscale:
    tailnet: your-tailnet.ts.net
  remoteSecret:
    auth: secret
    secretRef:
      namespace: tailscale
      name: cluster2-reader
      key: token
"""


def token_secret(value):
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "cluster2-reader", "namespace": "tailscale",
                         "labels": {"meshcluster.io/remote-token": "true"}},
            "type": "Opaque", "data": {"token": base64.b64encode(value.encode()).decode()}}


def main():
    canaries = {"kubeconfig token": canary("kc"), "token Secret": canary("sec"),
                "rotated token Secret": canary("rot"), "cacerts key": canary("key")}
    if L.REAL:
        # A real server's daemon runs with its ServiceAccount's token (kubectl create token):
        # that token, unique per cluster, is the canary.
        del canaries["kubeconfig token"]
        tmp, cs = L.mesh(["cluster1", "cluster2"])
        for c in cs:
            with open(c.daemon_kubeconfig) as f:
                canaries["%s kubeconfig token" % c.name] = json.load(f)["users"][0]["user"]["token"]
    else:
        tmp, cs = L.mesh(["cluster1", "cluster2"], server_args=["--token", canaries["kubeconfig token"]])
    try:
        certs = os.path.join(tmp, "certs")
        sh(MESHCTL, "pki", "root", "--out", os.path.join(certs, "root"))
        mc_dir = os.path.join(tmp, "mcs")
        os.makedirs(mc_dir)
        with open(os.path.join(L.EXAMPLES, "cluster1.yaml")) as f:
            c1_yaml = f.read()
        with open(os.path.join(mc_dir, "cluster1.yaml"), "w") as f:
            f.write(c1_yaml)
        with open(os.path.join(mc_dir, "cluster2.yaml"), "w") as f:
            f.write(REMOTE_SECRET_MC)
        meshctl_out = []
        for c in cs:
            d = os.path.join(certs, c.name)
            sh(MESHCTL, "pki", "intermediate", "--cluster", c.name, "--root", os.path.join(certs, "root"),
               "--out", d)
            # The canary rides in the private key file as PEM "explanatory text" (outside the
            # BEGIN/END block), which every PEM reader skips.
            key = os.path.join(d, "ca-key.pem")
            with open(key) as f:
                pem = f.read()
            with open(key, "w") as f:
                f.write("canary %s\n%s" % (canaries["cacerts key"], pem))
            meshctl_out.append(sh(MESHCTL, "pki", "verify", "--dir", d))
            c.kubectl("apply", "-f", "-", input=sh(MESHCTL, "pki", "cacerts-secret", "--cluster", c.name, "--dir", d))
            c.kubectl("apply", "-f", "-", input=json.dumps(token_secret(canaries["token Secret"])))
            c.kubectl("apply", "-f", mc_dir)
            c.start_daemon()
        meshctl_out.append(sh(MESHCTL, "render", "--cluster", "cluster1", "-f", mc_dir))
        meshctl_out.append(sh(MESHCTL, "render", "--cluster", "cluster1", "-f", mc_dir, "-o", "json"))
        for c in cs:
            c.kubectl("wait", "--for=condition=Ready", "meshcluster", "--all", "--timeout=60s")
        c1, c2 = cs
        # The token did reach the one place it belongs: cluster1's remote secret for cluster2.
        rs = c1.get("secret", "istio-remote-secret-cluster2", ISTIO)
        check(canaries["token Secret"] in base64.b64decode(rs["data"]["cluster2"]).decode(),
              "the referenced token is not in the remote secret")
        # And the scanner sees it there (base64 inside base64 data): a positive control.
        try:
            scan("the remote secret", json.dumps(rs), {"token Secret": canaries["token Secret"]})
            raise RuntimeError("the scanner does not find the token in the remote secret")
        except AssertionError:
            pass
        print("converged with the canaries in place")

        # Rotation, drift, restart: more paths that might log.
        for c in cs:
            c.kubectl("apply", "-f", "-", input=json.dumps(token_secret(canaries["rotated token Secret"])))
        # (How fast a rotation reaches the remote secret is issue 19 item 2's business, not this
        # test's: give the daemons a moment to read it and go on.)
        try:
            L.wait_for("rotated token in the remote secret", lambda: canaries["rotated token Secret"] in
                       base64.b64decode(c1.get("secret", "istio-remote-secret-cluster2", ISTIO)["data"]["cluster2"]
                                        ).decode(), 10)
        except AssertionError as e:
            print("note: %s" % e)
        c1.kubectl("delete", "service", "cluster2-k8s-operator", "-n", "tailscale", "--wait=false")
        L.wait_for("egress Service re-created", lambda: c1.get("service", "cluster2-k8s-operator", "tailscale"), 30)
        check(c2.stop_daemon() == 0, "SIGTERM exit code")
        c2.start_daemon()
        c2.kubectl("wait", "--for=condition=Ready", "meshcluster", "--all", "--timeout=60s")

        outputs = []
        for c in cs:
            outputs.append(("%s daemon log" % c.name, c.daemon_log()))
            outputs.append(("%s /metrics" % c.name, metrics(c)))
            outputs.append(("%s Events" % c.name, c.kubectl("get", "events", "-A", "-o", "json").stdout))
            outputs.append(("%s events.k8s.io" % c.name,
                            c.kubectl("get", "events.events.k8s.io", "-A", "-o", "json").stdout))
            outputs.append(("%s MeshClusters" % c.name, c.kubectl("get", "meshclusters", "-o", "json").stdout))
        for i, o in enumerate(meshctl_out):
            outputs.append(("meshctl output %d" % i, o))
        check(sum("level=debug" in t for _, t in outputs) >= 2, "the daemons did not log at debug")
        for where, text in outputs:
            scan(where, text, canaries)
        print("canary scan: %d outputs, %d bytes, %d canaries x %d spellings: none found" % (
            len(outputs), sum(len(t) for _, t in outputs), len(canaries), len(forms("x"))))
    except Exception:
        for c in cs:
            print("---- %s daemon log (tail) ----\n%s" % (c.name, c.daemon_log()[-4000:]))
        raise
    finally:
        for c in cs:
            c.close()
        L.cleanup(tmp)


if __name__ == "__main__":
    main()
