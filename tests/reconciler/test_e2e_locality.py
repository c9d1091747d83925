"""End to end: locality failover from the MeshCluster set (issue 16 section 2).

Three example MeshClusters, one meshclusterd. Giving two of them regions makes the daemon add
meshConfig.localityLbSetting with both failover pairs to the Helm values ConfigMap, exactly
as `meshctl render` prints it, and never touch the istio ConfigMap's mesh key (the
installer's). A third region with a preference rewrites the pairs with one write to the values
ConfigMap and none to the istio ConfigMap; a zone edit, which changes no pair, writes no
ConfigMap at all; and the steady state writes nothing.
"""
import json
import os
import subprocess
import sys
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as L  # noqa: E402
from edits_lib import ISTIO, check, running, settle  # noqa: E402

VALUES = "meshcluster-istiod-values"
NAMES = ("cluster1", "cluster2", "cluster3")


def pairs(c):
    cm = c.get("configmap", VALUES, ISTIO) or {}
    values = yaml.safe_load((cm.get("data") or {}).get("values.yaml") or "{}") or {}
    lb = (values.get("meshConfig") or {}).get("localityLbSetting")
    if not lb:
        return None
    check(lb.get("enabled") is True, "localityLbSetting not enabled: %r" % lb)
    return [(p["from"], p["to"]) for p in lb["failover"]]


def patch(c, name, locality):
    c.kubectl("patch", "meshcluster", name, "--type=merge",
              "-p", json.dumps({"spec": {"locality": locality}}))


def quiet_writes(c, seconds=3.0):
    """Waits for the daemon to finish the pass an edit started, then the writes of a quiet
    period after it."""
    time.sleep(1.0)
    return settle(c, seconds)


def configmap_writes(writes):
    return sorted(r["path"].rsplit("/", 1)[-1] for r in writes if "/configmaps" in r["path"])


def rendered_pairs(c):
    out = subprocess.run([os.path.join(L.BUILD, "meshctl"), "render", "--cluster", "cluster1", "-f", "-", "-o", "json"],
                         input=c.kubectl("get", "meshclusters", "-o", "yaml").stdout,
                         capture_output=True, text=True, timeout=30, check=True).stdout
    cm = next(o for o in json.loads(out)["items"] if o["metadata"]["name"] == VALUES)
    lb = yaml.safe_load(cm["data"]["values.yaml"])["meshConfig"]["localityLbSetting"]
    return [(p["from"], p["to"]) for p in lb["failover"]]


def main():
    with running(names=NAMES) as c:
        check(pairs(c) is None, "failover without regions: %r" % pairs(c))
        patch(c, "cluster1", {"region": "us-east"})
        patch(c, "cluster2", {"region": "eu-west"})
        want = [("us-east", "eu-west"), ("eu-west", "us-east")]
        L.wait_for("two failover pairs", lambda: pairs(c) == want, 30)
        check(rendered_pairs(c) == want, "meshctl render disagrees: %r" % rendered_pairs(c))
        istio = c.get("configmap", "istio", ISTIO)["data"]
        check(istio.get("mesh") == "defaultConfig: {}" and "localityLbSetting" not in json.dumps(istio),
              "the installer's mesh key was touched: %r" % istio)
        w = quiet_writes(c)
        check(not w, "steady state wrote: %r" % w)

        c.clear_requests()
        patch(c, "cluster3", {"region": "ap-south", "failover": ["eu-west"]})
        want = [("us-east", "eu-west"), ("eu-west", "ap-south"), ("ap-south", "eu-west")]
        L.wait_for("three failover pairs", lambda: pairs(c) == want, 30)
        time.sleep(2.0)
        cms = configmap_writes(c.daemon_writes())
        check(cms == [VALUES], "a new region wrote ConfigMaps %r (want the values one, once)" % cms)
        check(rendered_pairs(c) == want, "meshctl render disagrees: %r" % rendered_pairs(c))

        patch(c, "cluster2", {"region": "eu-west", "zone": "eu-west-1b"})
        cms = configmap_writes(quiet_writes(c))
        check(cms == [], "a zone edit wrote ConfigMaps %r" % cms)
        check(pairs(c) == want, "pairs after a zone edit: %r" % pairs(c))
        w = quiet_writes(c)
        check(not w, "steady state wrote: %r" % w)
        print("ok: failover pairs written to %s only, one write per change, 0 in steady state"
              % VALUES)


if __name__ == "__main__":
    main()
