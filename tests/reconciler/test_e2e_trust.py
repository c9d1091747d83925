"""End to end, with real processes: the live controller reports TrustVerified and .status.trust
on every MeshCluster from istio-system/cacerts and istiod's istio-ca-root-cert, through the
trust-federation seed's failure 2 and its fix, without TrustVerified ever gating Ready:

  1. no cacerts (istiod serves its self-signed root)   -> False NoCacerts, Ready True,
     status.trust.rootCAFingerprint = istiod's self-signed root
  2. cacerts applied (root declared by the MeshClusters) -> False IstiodRootStale, Ready True
  3. POST /istiod/restart (istiod re-reads cacerts)     -> True RootMatches, status.trust =
     the declared root and the intermediate's notAfter; then steady state writes nothing
  5. (seed failure 1) cacerts from another root        -> False RootMismatch naming both roots,
     and one Warning Event RootMismatch;
     cacerts from the shared root again                -> True RootMatches
  4. cacerts replaced by an intermediate valid 10 days  -> one Warning Event
     IntermediateExpiringSoon on cluster1, still one after resyncs and after a daemon restart
  and the daemon lists/watches Secrets only by our label or by the name cacerts.
"""
import os
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as L  # noqa: E402

ISTIO = "istio-system"
MESHCTL = os.path.join(L.BUILD, "meshctl")


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def sh(*args):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "%s: %s%s" % (" ".join(args), p.stdout, p.stderr))
    return p.stdout


def conditions(c, name):
    st = (c.get("meshcluster", name) or {}).get("status") or {}
    return {x["type"]: x for x in st.get("conditions") or []}, st


def wait_trust(c, name, status, reason, timeout=30):
    def ok():
        conds, st = conditions(c, name)
        t = conds.get("TrustVerified")
        if t and (t["status"], t["reason"]) == (status, reason):
            return conds, st
        seen[0] = t
        return None
    seen = [None]
    try:
        conds, st = L.wait_for("%s TrustVerified %s/%s" % (name, status, reason), ok, timeout)
    except AssertionError as e:
        raise AssertionError("%s; TrustVerified is %r" % (e, seen[0])) from None
    print("%s: TrustVerified=%s %s: %s | trust=%r" % (name, status, reason,
          conds["TrustVerified"]["message"], st.get("trust")), flush=True)
    return conds, st


def expiring_events(c):
    return [e for e in c.list("events") if e.get("reason") == "IntermediateExpiringSoon"]


def main():
    tmp, cs = L.mesh(["cluster1"])
    c = cs[0]
    try:
        pki = os.path.join(tmp, "pki")
        out = sh(MESHCTL, "pki", "root", "--out", os.path.join(pki, "root"))
        fp = [l for l in out.splitlines() if l.startswith("sha256 Fingerprint=")][0].split("=", 1)[1]
        sh(MESHCTL, "pki", "intermediate", "--cluster", "cluster1", "--root", os.path.join(pki, "root"),
           "--out", os.path.join(pki, "c1"))
        sh(MESHCTL, "pki", "intermediate", "--cluster", "cluster1", "--root", os.path.join(pki, "root"),
           "--out", os.path.join(pki, "short"), "--days", "10")
        c.apply_examples(["cluster1", "cluster2"])
        for n in ("cluster1", "cluster2"):
            c.kubectl("patch", "meshcluster", n, "--type=merge",
                      "-p", '{"spec":{"trust":{"rootCAFingerprint":"%s"}}}' % fp)
        c.start_daemon()

        # 1. No cacerts: reported, but the mesh still wires up (Ready keeps its meaning).
        conds, st = wait_trust(c, "cluster1", "False", "NoCacerts")
        c.kubectl("wait", "--for=condition=Ready", "meshcluster", "cluster1", "--timeout=60s")
        self_fp = st["trust"]["rootCAFingerprint"]
        check(self_fp and self_fp != fp, "self-signed root in status.trust: %r" % st)
        check("intermediateNotAfter" not in st["trust"], "no intermediate yet: %r" % st)
        wait_trust(c, "cluster2", "False", "NoCacerts")
        check(expiring_events(c) == [], "no expiry warning without cacerts")

        # 2. Seed failure 2: cacerts created after istiod started.
        manifest = sh(MESHCTL, "pki", "cacerts-secret", "--cluster", "cluster1", "--dir",
                      os.path.join(pki, "c1"))
        c.kubectl("apply", "-f", "-", input=manifest)
        conds, st = wait_trust(c, "cluster1", "False", "IstiodRootStale")
        check(fp in conds["TrustVerified"]["message"], "declared root named: %r" % conds["TrustVerified"])
        check(conds["Ready"]["status"] == "True", "TrustVerified gated Ready: %r" % conds["Ready"])

        # 3. The fix: istiod restarts and serves the cacerts root.
        c.ctl("POST", "/istiod/restart", {})
        with open(os.path.join(pki, "c1", "root-cert.pem")) as f:
            root_pem = f.read().strip()
        L.wait_for("istiod serving the cacerts root", lambda: c.get(
            "configmap", "istio-ca-root-cert", ISTIO)["data"]["root-cert.pem"].strip() == root_pem, 20)
        conds, st = wait_trust(c, "cluster1", "True", "RootMatches")
        check(st["trust"]["rootCAFingerprint"] == fp, "root in use: %r" % st["trust"])
        check(st["trust"]["intermediateNotAfter"].endswith("Z"), "notAfter: %r" % st["trust"])
        check(conds["Ready"]["status"] == "True", "Ready: %r" % conds["Ready"])
        wait_trust(c, "cluster2", "True", "RootMatches")

        # Steady state: nothing written (status is written only when it changes), one Event.
        time.sleep(1.0)
        c.clear_requests()
        time.sleep(3.0)
        w = c.daemon_writes()
        check(w == [], "writes in steady state: %r" % [(r["method"], r["path"]) for r in w])
        # A pass with nothing to do writes nothing either. meshctl's cacerts Secret carries our
        # cluster label; cached as an owned object, every pass gave "our" fields in it back.
        c.kubectl("annotate", "mc", "cluster2", "test/poke=1", "--overwrite")
        time.sleep(2.0)
        w = c.daemon_writes()
        check(w == [], "writes after an event that changes nothing: %r"
              % [(r["method"], r["path"]) for r in w])
        check(expiring_events(c) == [], "no expiry warning for a 730-day intermediate")

        # 5. Seed failure 1: this cluster's cacerts comes from another root than the mesh's,
        # then the fix (cacerts from the shared root again) turns it True.
        out2 = sh(MESHCTL, "pki", "root", "--out", os.path.join(pki, "other-root"))
        fp2 = [l for l in out2.splitlines() if l.startswith("sha256 Fingerprint=")][0].split("=", 1)[1]
        sh(MESHCTL, "pki", "intermediate", "--cluster", "cluster1", "--root",
           os.path.join(pki, "other-root"), "--out", os.path.join(pki, "other"))
        c.kubectl("apply", "-f", "-", input=sh(MESHCTL, "pki", "cacerts-secret", "--cluster", "cluster1",
                                               "--dir", os.path.join(pki, "other")))
        conds, st = wait_trust(c, "cluster1", "False", "RootMismatch")
        msg = conds["TrustVerified"]["message"]
        check(fp in msg and fp2 in msg, "both fingerprints named: %r" % msg)
        # 14.9: the mismatch is announced once as a Warning Event on each MeshCluster.
        ev = L.wait_for("RootMismatch Event", lambda: [e for e in c.list("events")
                                                      if e.get("reason") == "RootMismatch"], 10)
        check(ev[0]["type"] == "Warning" and ev[0].get("count", 1) == 1, "RootMismatch events %r" % ev)
        c.kubectl("apply", "-f", "-", input=manifest)
        wait_trust(c, "cluster1", "True", "RootMatches")

        # 4. An intermediate close to expiry (same root): one Warning Event, not one per pass.
        manifest = sh(MESHCTL, "pki", "cacerts-secret", "--cluster", "cluster1", "--dir",
                      os.path.join(pki, "short"))
        c.kubectl("apply", "-f", "-", input=manifest)
        wait_trust(c, "cluster1", "True", "IntermediateExpiringSoon")
        ev = L.wait_for("IntermediateExpiringSoon Event", lambda: expiring_events(c), 20)
        check(len(ev) == 1 and ev[0]["type"] == "Warning", "one Warning Event: %r" % ev)
        check(ev[0]["involvedObject"]["name"] == "cluster1", "Event on cluster1: %r" % ev[0])
        c.kubectl("annotate", "meshcluster", "cluster2", "poke=1")  # another pass
        time.sleep(3.0)
        ev = expiring_events(c)
        check(len(ev) == 1 and (ev[0].get("count") or 1) == 1, "Event recorded once: %r" % ev)

        # The cache holds no Secret but ours, cacerts and opted-in token Secrets: every Secret
        # list/watch is selected.
        c.stop_daemon()
        c.clear_requests()
        c.start_daemon()
        c.kubectl("wait", "--for=condition=Ready", "meshcluster", "cluster1", "--timeout=60s")
        # Ready was already True, so the wait may end before the restarted daemon's reads are
        # logged (a real server's audit log records a list when it completes).
        reads = L.wait_for("the daemon's Secret lists/watches in the request log", lambda: [
            r for r in c.requests() if r["method"] == "GET" and r["path"].endswith("/secrets")
            and (r.get("user_agent") or "").startswith("meshcluster")], 20)
        for r in reads:
            q = urllib.parse.parse_qs(r.get("query") or "")
            if "/namespaces/tailscale/" in r["path"]:  # token Secrets: only the opted-in ones
                check(q.get("labelSelector") == ["meshcluster.io/remote-token=true"],
                      "token Secrets read without the opt-in label: %r" % r)
                continue
            check("/namespaces/%s/" % ISTIO in r["path"], "Secrets read outside istio-system: %r" % r)
            check(q.get("labelSelector") or q.get("fieldSelector") == ["metadata.name=cacerts"],
                  "unselected Secret list/watch: %r" % r)
        # The restarted daemon finds the warning in cluster1's status and does not repeat it.
        time.sleep(1.0)
        ev = expiring_events(c)
        check(len(ev) == 1 and (ev[0].get("count") or 1) == 1, "Event not repeated on restart: %r" % ev)
        rc = c.stop_daemon()
        check(rc == 0, "exit code %r after SIGTERM" % rc)
        print("ok: TrustVerified follows cacerts and istiod, Ready untouched")
    except BaseException:
        sys.stderr.write("---- daemon log (tail)\n%s\n" % c.daemon_log()[-4000:])
        raise
    finally:
        c.close()
        L.cleanup(tmp)


if __name__ == "__main__":
    main()
