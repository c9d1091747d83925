"""tests/support/real-cluster against the real binaries: `up` gives a cluster whose admin
kubeconfig works with real kubectl, that serves our CRD (applied with kubectl, then a
MeshCluster of the examples), that issues service-account tokens (TokenRequest), and that
speaks HTTP/2, and that enforces the CRD's CEL rule and date-time format (which the lite
server does not); a second cluster on the same etcd sees none of the first one's objects; `down`
leaves no process and no folder behind, and neither does the death of the owner process
named by --owner-pid."""
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get("MC_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
REAL_CLUSTER = os.path.join(REPO, "tests", "support", "real-cluster")
KUBECTL = os.path.join(REPO, "tools", "kubectl")


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def kubectl(info, *args, input=None, check_rc=True):
    env = dict(os.environ, KUBECONFIG=info["kubeconfig"],
               KUBECACHEDIR=os.path.join(info["dir"], "kubecache"))
    p = subprocess.run([KUBECTL] + list(args), env=env, input=input, capture_output=True, text=True,
                       timeout=60)
    if check_rc and p.returncode != 0:
        raise AssertionError("kubectl %s: %s%s" % (" ".join(args), p.stdout, p.stderr))
    return p


def up(d, *extra):
    subprocess.run([REAL_CLUSTER, "up", d] + list(extra), check=True, timeout=200)
    with open(os.path.join(d, "info.json")) as f:
        return json.load(f)


def running(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def alpn(info):
    u = urllib.parse.urlsplit(info["url"])
    ctx = ssl.create_default_context(cafile=info["ca_file"])
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=u.hostname) as t:
            return t.selected_alpn_protocol()


def main():
    tmp = tempfile.mkdtemp(prefix="mc-real-")
    dirs = [os.path.join(tmp, "c1"), os.path.join(tmp, "c2")]
    pids = []
    try:
        a = up(dirs[0], "--name", "cluster1")
        pids += a["pids"].values()
        check(set(a["pids"]) == {"etcd", "kube-apiserver", "kube-controller-manager"}, "pids %r" % a["pids"])
        v = json.loads(kubectl(a, "version", "-o", "json").stdout)
        check(v["serverVersion"]["gitVersion"].startswith("v1.34."), "server version %r" % v["serverVersion"])
        check(alpn(a) == "h2", "the API server does not offer HTTP/2")

        kubectl(a, "apply", "-f", os.path.join(REPO, "deploy", "crds", "meshcluster.yaml"))
        kubectl(a, "wait", "--for=condition=Established", "crd/meshclusters.meshcluster.io", "--timeout=60s")
        kubectl(a, "apply", "-f", os.path.join(REPO, "deploy", "examples", "cluster1.yaml"))
        mc = json.loads(kubectl(a, "get", "meshcluster", "cluster1", "-o", "json").stdout)
        check(mc["spec"].get("network") == "cluster1", "MeshCluster spec %r" % mc["spec"])

        # What the lite server lets through and a real one refuses (issue 13, items 3 and 4):
        # the CRD's CEL rule, and format date-time in status.
        bad = kubectl(a, "apply", "-f", "-", check_rc=False, input=json.dumps({
            "apiVersion": "meshcluster.io/v1alpha1", "kind": "MeshCluster", "metadata": {"name": "cel"},
            "spec": {"tailscale": {"tailnet": "x.ts.net"}, "remoteSecret": {"auth": "secret"}}}))
        check(bad.returncode != 0 and "auth secret needs secretRef" in bad.stderr, "CEL rule: %s" % bad.stderr)
        bad = kubectl(a, "patch", "meshcluster", "cluster1", "--subresource=status", "--type=merge", "-p",
                      json.dumps({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "R",
                                                             "message": "", "lastTransitionTime": "yesterday"}]}}),
                      check_rc=False)
        check(bad.returncode != 0 and "lastTransitionTime" in bad.stderr, "date-time: %s" % bad.stderr)

        # The controllers run: the token controller and TokenRequest give a working token.
        kubectl(a, "create", "serviceaccount", "probe", "-n", "default")
        token = kubectl(a, "create", "token", "probe", "-n", "default").stdout.strip()
        who = kubectl(a, "auth", "whoami", "-o", "json", "--token", token)
        check(json.loads(who.stdout)["status"]["userInfo"]["username"] == "system:serviceaccount:default:probe",
              "token identity: %s" % who.stdout)
        # RBAC is on: that service account may not list Secrets.
        denied = kubectl(a, "get", "secrets", "-n", "default", "--token", token, check_rc=False)
        check(denied.returncode != 0 and "forbidden" in denied.stderr.lower(), "RBAC: %s" % denied.stderr)

        # A second cluster on the first one's etcd is a separate cluster.
        b = up(dirs[1], "--name", "cluster2", "--etcd", a["etcd"])
        pids += b["pids"].values()
        check("etcd" not in b["pids"], "a second etcd started")
        check(kubectl(b, "get", "crd", "-o", "name").stdout.strip() == "", "cluster2 sees cluster1's CRD")

        # A cluster whose owner dies goes down by itself (a test runner's timeout kills tests).
        owner = subprocess.Popen(["sleep", "600"])
        dirs.append(os.path.join(tmp, "c3"))
        c = up(dirs[2], "--name", "cluster3", "--etcd", a["etcd"], "--owner-pid", str(owner.pid))
        pids += c["pids"].values()
        owner.kill()
        owner.wait()
        deadline = time.monotonic() + 30
        while os.path.exists(dirs[2]) and time.monotonic() < deadline:
            time.sleep(0.2)
        check(not os.path.exists(dirs[2]), "the cluster outlived its owner")
        check(not any(running(p) for p in c["pids"].values()), "processes outlived their owner")

        for d in reversed(dirs[:2]):
            subprocess.run([REAL_CLUSTER, "down", d], check=True, timeout=60)
        deadline = time.monotonic() + 10
        while any(running(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [p for p in pids if running(p)]
        check(not left, "processes left after down: %r" % left)
        check(not any(os.path.exists(d) for d in dirs), "folders left after down")
        print("ok: real cluster up (%.1f s), CRD and MeshCluster applied, token issued, h2, down clean"
              % a["up_seconds"])
    except BaseException:
        for d in dirs:
            for log in ("etcd.log", "kube-apiserver.log", "kube-controller-manager.log"):
                path = os.path.join(d, log)
                if os.path.exists(path):
                    with open(path, errors="replace") as f:
                        sys.stderr.write("---- %s\n%s\n" % (path, f.read()[-3000:]))
        raise
    finally:
        for d in reversed(dirs):
            if os.path.exists(d):
                subprocess.run([REAL_CLUSTER, "down", d], timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
