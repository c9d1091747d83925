"""End to end: cluster DNS for the tailnet (the guide's Step 3, issue 21). One API server with
the Tailscale simulator (which puts a nameserver IP in a DNSConfig's status) and the DNSConfig
CRD, MeshClusters cluster1 (local, spec.tailscale.dns: managed) and cluster2 applied with
kubectl, meshclusterd for cluster1 reading CoreDNS back every 300 ms. For both CoreDNS shapes:

  corefile  kube-system/coredns only (kubeadm, kind): our server block between marker lines;
  custom    kube-system/coredns-custom exists too (AKS, k3s): our key tailnet.server in it,
            the Corefile never touched;

it proves that the block is added with the DNSConfig's nameserver IP and DNSReady=True, that
the steady state writes nothing, that foreign text outside our block (and foreign keys) is
kept byte for byte, that drift inside the block is repaired (also after an update that loses a
race with a 409, on the lite server), that a restarted daemon writes
nothing, that switching to dns: external withdraws everything (and DNSReady), and that deleting
the local MeshCluster removes the block and the DNSConfig (corefile: while no controller runs,
found by the next one's startup look; custom: live). The corefile shape also reports a
conflicting server block as DNSReady=False CorefileConflict without writing.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as L  # noqa: E402

KS = "kube-system"
DNS_CRD = os.path.join(L.SHARED, "fixtures", "tailscale", "crds", "tailscale.com_dnsconfigs.yaml")
NAMESERVER = "10.96.200.53"  # the simulator's
ZONE = "your-tailnet.ts.net"
BEGIN = "# BEGIN meshcluster tailnet DNS: managed by meshcluster-controller"
END = "# END meshcluster tailnet DNS"
BLOCK = "%s:53 {\n    errors\n    cache 30\n    forward . %s\n}\n" % (ZONE, NAMESERVER)
# kubeadm's Corefile, with a comment of the cluster's admin: all of it must survive.
COREFILE = """# edited by the platform team, keep
.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
"""
FOREIGN_KEY = "other.server"
FOREIGN_SERVER = "corp.example:53 {\n    forward . 10.0.0.10\n}\n"


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def corefile(c):
    return ((c.get("configmap", "coredns", KS) or {}).get("data") or {}).get("Corefile", "")


def custom(c):
    return (c.get("configmap", "coredns-custom", KS) or {}).get("data") or {}


def dnsconfig(c):
    return c.get("dnsconfig", "ts-dns")


def dns_ready(c):
    mc = c.get("meshcluster", "cluster1") or {}
    for x in (mc.get("status") or {}).get("conditions") or []:
        if x.get("type") == "DNSReady":
            return x
    return None


def dns_writes(c):
    """The daemon's writes to CoreDNS's ConfigMaps and DNSConfigs since the last clear."""
    return ["%s %s" % (r["method"], r["path"]) for r in c.daemon_writes()
            if "/dnsconfigs" in r["path"] or "/namespaces/kube-system/configmaps" in r["path"]]


def set_dns(c, mode):
    c.kubectl("patch", "meshcluster", "cluster1", "--type", "merge", "-p",
              json.dumps({"spec": {"tailscale": {"dns": mode}}}))


def replace_corefile(c, text):
    cm = c.get("configmap", "coredns", KS)
    cm["data"]["Corefile"] = text
    for k in ("managedFields", "creationTimestamp", "uid"):
        cm["metadata"].pop(k, None)
    c.kubectl("replace", "-f", "-", input=json.dumps(cm))


def quiet(c, what, seconds=1.5):
    """Several read-back rounds (every 300 ms) without a DNS write."""
    c.clear_requests()
    time.sleep(seconds)
    w = dns_writes(c)
    check(not w, "%s: the daemon wrote %r" % (what, w))


def converge_corefile(c):
    L.wait_for("DNSConfig with its nameserver IP", lambda: ((dnsconfig(c) or {}).get("status") or {})
               .get("nameserver", {}).get("ip") == NAMESERVER, 30)
    L.wait_for("the block in the Corefile", lambda: BEGIN + "\n" + BLOCK + END + "\n" in corefile(c), 30)
    L.wait_for("DNSReady=True", lambda: (dns_ready(c) or {}).get("status") == "True", 30)
    cf = corefile(c)
    check(cf.startswith(COREFILE), "everything before our block kept byte for byte: %r" % cf)


def corefile_shape(c):
    c.kubectl("create", "configmap", "coredns", "-n", KS, "--from-literal=Corefile=" + COREFILE)
    set_dns(c, "managed")
    converge_corefile(c)
    check((dnsconfig(c)["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by")
          == "meshcluster-controller", "the DNSConfig is labelled ours")
    quiet(c, "steady state")
    # A restarted daemon finds everything in place: reads, no write.
    check(c.stop_daemon() == 0, "daemon exit after SIGTERM")
    c.start_daemon("--dns-interval", "300ms")
    L.wait_for("Ready after the restart", lambda: (dns_ready(c) or {}).get("status") == "True", 30)
    quiet(c, "after a restart")

    # A foreign edit outside our markers: kept, nothing written.
    edited = corefile(c).replace("    cache 30\n    loop", "    cache 60\n    loop")
    edited = "# another comment of the admin\n" + edited
    replace_corefile(c, edited)
    quiet(c, "after a foreign edit outside the block")
    check(corefile(c) == edited, "the foreign edit is kept")

    # Drift inside our block: repaired, the rest untouched.
    replace_corefile(c, edited.replace("forward . " + NAMESERVER, "forward . 192.0.2.1"))
    L.wait_for("the block repaired", lambda: corefile(c) == edited, 15)
    quiet(c, "after the repair")
    if not L.REAL:  # fault injection is the lite server's
        # The update loses a race (409: the Corefile moved under the edit): read and edited again.
        c.clear_requests()
        log_at = len(c.daemon_log())
        c.ctl("POST", "/fail", {"count": 1, "code": 409, "query_regex": "fieldManager=meshcluster",
                                "path_regex": "/namespaces/kube-system/configmaps/coredns$"})
        replace_corefile(c, edited.replace("forward . " + NAMESERVER, "forward . 192.0.2.2"))
        L.wait_for("the block repaired after a lost race", lambda: corefile(c) == edited, 15)
        puts = [r["code"] for r in c.requests() if r["method"] == "PUT" and
                r["path"].endswith("/kube-system/configmaps/coredns") and
                (r.get("user_agent") or "").startswith("meshcluster")]
        check(puts[:2] == [409, 200], "the daemon's updates: %r" % puts)
        moved = [l for l in c.daemon_log()[log_at:].splitlines()
                 if 'msg="cluster DNS"' in l and "state=Configured" not in l]
        check(not moved, "a lost race is no failure nor conflict, only a re-read: %r" % moved)

    # A conflicting server block outside our markers: reported, never "fixed".
    theirs = edited.replace(BEGIN, "%s:53 {\n    forward . 192.0.2.9\n}\n%s" % (ZONE, BEGIN))
    replace_corefile(c, theirs)
    L.wait_for("DNSReady=False CorefileConflict",
               lambda: (dns_ready(c) or {}).get("reason") == "CorefileConflict", 15)
    check((dns_ready(c) or {}).get("status") == "False", "conflict is False")
    quiet(c, "while conflicting")
    check(corefile(c) == theirs, "a conflicting Corefile is left alone")
    replace_corefile(c, edited)
    L.wait_for("DNSReady=True again", lambda: (dns_ready(c) or {}).get("status") == "True", 15)

    # No MeshCluster needs it any more, and it went while no controller ran: the next one
    # finds its DNSConfig from the earlier run and removes block and DNSConfig; the rest stays.
    check(c.stop_daemon() == 0, "daemon exit after SIGTERM")
    c.kubectl("delete", "meshcluster", "cluster1")
    c.start_daemon("--dns-interval", "300ms")
    want = edited.replace(BEGIN + "\n" + BLOCK + END + "\n", "")
    L.wait_for("the block removed", lambda: corefile(c) == want, 15)
    L.wait_for("the DNSConfig deleted", lambda: dnsconfig(c) is None, 15)
    quiet(c, "after teardown")


def custom_shape(c):
    c.kubectl("create", "configmap", "coredns-custom", "-n", KS,
              "--from-literal=%s=%s" % (FOREIGN_KEY, FOREIGN_SERVER))
    before = corefile(c)
    c.apply_examples(["cluster1"])
    set_dns(c, "managed")
    L.wait_for("our key in coredns-custom", lambda: custom(c).get("tailnet.server") == BLOCK, 30)
    L.wait_for("DNSReady=True", lambda: (dns_ready(c) or {}).get("status") == "True", 30)
    check(custom(c).get(FOREIGN_KEY) == FOREIGN_SERVER, "the foreign key is kept")
    check(corefile(c) == before, "the Corefile is not touched when coredns-custom exists")
    quiet(c, "steady state (custom)")

    # Drift of our key: repaired; a foreign key added meanwhile stays.
    c.kubectl("patch", "configmap", "coredns-custom", "-n", KS, "--type", "merge", "-p",
              json.dumps({"data": {"tailnet.server": "broken", "more.server": "x:53 {\n}\n"}}))
    L.wait_for("our key repaired", lambda: custom(c).get("tailnet.server") == BLOCK, 15)
    check(custom(c).get("more.server") == "x:53 {\n}\n", "a foreign key added later is kept")
    quiet(c, "after the repair (custom)")

    # Switched to external: ours withdrawn, DNSReady gone; and back.
    set_dns(c, "external")
    L.wait_for("our key withdrawn", lambda: "tailnet.server" not in custom(c), 15)
    L.wait_for("the DNSConfig deleted", lambda: dnsconfig(c) is None, 15)
    L.wait_for("no DNSReady for external", lambda: dns_ready(c) is None, 15)
    check(custom(c).get(FOREIGN_KEY) == FOREIGN_SERVER, "the foreign key is kept")
    set_dns(c, "managed")
    L.wait_for("our key back", lambda: custom(c).get("tailnet.server") == BLOCK, 15)

    c.kubectl("delete", "meshcluster", "cluster1")
    L.wait_for("our key removed", lambda: "tailnet.server" not in custom(c), 15)
    L.wait_for("the DNSConfig deleted", lambda: dnsconfig(c) is None, 15)
    check(custom(c).get(FOREIGN_KEY) == FOREIGN_SERVER, "the foreign key is kept at teardown")
    check(corefile(c) == before, "the Corefile is still not touched")
    quiet(c, "after teardown (custom)")


def main():
    t0 = time.monotonic()
    tmp, (c,) = L.mesh(["cluster1"])
    ok = False
    try:
        c.kubectl("apply", "-f", DNS_CRD)
        if L.REAL:
            L.wait_for("the DNSConfig CRD Established", lambda: c.kubectl(
                "wait", "--for=condition=Established", "--timeout=30s",
                "crd/dnsconfigs.tailscale.com", check=False).returncode == 0, 90, 0.5)
        c.kubectl("create", "namespace", KS, check=False)
        c.apply_examples(["cluster1", "cluster2"])
        c.start_daemon("--dns-interval", "300ms")
        corefile_shape(c)
        custom_shape(c)
        check(c.stop_daemon() == 0, "daemon exit after SIGTERM")
        ok = True
        print("ok: both CoreDNS shapes: added, quiet, foreign text kept, drift repaired, removed "
              "(%.1f s)" % (time.monotonic() - t0))
    finally:
        if not ok:
            print("---- meshclusterd log (tail) ----\n%s" % c.daemon_log()[-8000:])
            print("---- cluster1's status ----\n%s" % json.dumps(
                (c.get("meshcluster", "cluster1") or {}).get("status"), indent=1))
        c.close()
        L.cleanup(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
