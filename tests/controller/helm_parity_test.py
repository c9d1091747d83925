"""Real helm parity. Renders the real istiod chart with the Helm values `meshctl render`
produces and checks that the `istio` ConfigMap's meshNetworks parses equal to what the
controller writes into that key itself; renders the real gateway chart with the guide's
Step 7 --set flags and checks the controller's gateway Service equals it on every field the
controller manages; and renders the istiod chart with the values of a set spanning three
regions and checks the `istio` ConfigMap's mesh key holds the failover pairs, each a valid
Istio pair (regions only, from unique, from != to). Fails when tools/helm is absent: scripts/setup
installs it."""
import json
import os
import subprocess
import sys
import tempfile

import yaml

MESHCTL = sys.argv[1]
SRC = os.environ.get("MC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.environ.get("MC_SHARED_DIR", os.path.join(SRC, "..", "shared"))
HELM = os.path.join(SRC, "tools", "helm")
CHARTS = os.path.join(SHARED, "fixtures", "istio", "charts")


def run(*args):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise SystemExit(f"{args[0]} failed ({p.returncode}): {p.stderr}")
    return p.stdout


def objects(text):
    return [d for d in yaml.safe_load_all(text) if d]


def find(objs, kind, name):
    for o in objs:
        if o.get("kind") == kind and o["metadata"]["name"] == name:
            return o
    raise SystemExit(f"no {kind} {name}")


def check_locality(tmp):
    """A set spanning three regions, one with a preference: the real istiod chart merges our
    meshConfig.localityLbSetting into the mesh key it renders (next to its own fields)."""
    mcs = os.path.join(tmp, "regions.yaml")
    with open(mcs, "w") as f:
        for name, region, pref in (("cluster1", "us-east-1", None), ("cluster2", "us-central1", None),
                                   ("cluster3", "eu-west-1", "us-central1")):
            f.write(f"---\napiVersion: meshcluster.io/v1alpha1\nkind: MeshCluster\n"
                    f"metadata:\n  name: {name}\nspec:\n  locality:\n    region: {region}\n"
                    + (f"    failover: [{pref}]\n" if pref else "")
                    + "  tailscale:\n    tailnet: your-tailnet.ts.net\n")
    ours = json.loads(run(MESHCTL, "render", "--cluster", "cluster2", "-f", mcs, "-o", "json"))["items"]
    values = os.path.join(tmp, "locality-values.yaml")
    with open(values, "w") as f:
        f.write(find(ours, "ConfigMap", "meshcluster-istiod-values")["data"]["values.yaml"])
    if "localityLbSetting" in find(ours, "ConfigMap", "istio")["data"].get("mesh", ""):
        raise SystemExit("the installer's mesh key must not be written by the controller")
    rendered = objects(run(HELM, "template", "istiod", os.path.join(CHARTS, "istiod"),
                           "-n", "istio-system", "-f", values))
    mesh = yaml.safe_load(find(rendered, "ConfigMap", "istio")["data"]["mesh"])
    lb = mesh.get("localityLbSetting")
    want = [{"from": "us-east-1", "to": "us-central1"}, {"from": "us-central1", "to": "eu-west-1"},
            {"from": "eu-west-1", "to": "us-central1"}]
    if lb != {"enabled": True, "failover": want}:
        raise SystemExit(f"rendered mesh localityLbSetting {lb}, want failover {want}")
    # Istio's own validation of a LocalityLoadBalancerSetting (validateLocalityLbSetting).
    froms = [p["from"] for p in lb["failover"]]
    if len(set(froms)) != len(froms) or any(p["from"] == p["to"] or "/" in p["from"] + p["to"]
                                            for p in lb["failover"]):
        raise SystemExit(f"failover pairs Istio would refuse: {lb['failover']}")
    if mesh.get("trustDomain") != "cluster.local" or "defaultConfig" not in mesh:
        raise SystemExit("the chart's own mesh fields were lost in the merge")


def main():
    if not os.access(HELM, os.X_OK):
        print("FAIL: tools/helm is absent (scripts/setup installs it); helm parity not checked")
        sys.exit(1)
    with tempfile.TemporaryDirectory() as tmp:
        mcs = os.path.join(tmp, "mcs.yaml")
        with open(mcs, "w") as f:
            for i, net in ((1, "east"), (2, "east"), (3, "west")):
                f.write(f"---\napiVersion: meshcluster.io/v1alpha1\nkind: MeshCluster\n"
                        f"metadata:\n  name: cluster{i}\nspec:\n  network: {net}\n"
                        f"  tailscale:\n    tailnet: your-tailnet.ts.net\n")
        # Also the examples: the guide's own three-cluster layout.
        for src, local in ((mcs, "cluster1"), (os.path.join(SRC, "deploy", "examples"), "cluster2")):
            ours = json.loads(run(MESHCTL, "render", "--cluster", local, "-f", src, "-o", "json"))["items"]
            values_cm = find(ours, "ConfigMap", "meshcluster-istiod-values")
            istio_cm = find(ours, "ConfigMap", "istio")
            values = os.path.join(tmp, "values.yaml")
            with open(values, "w") as f:
                f.write(values_cm["data"]["values.yaml"])
            rendered = objects(run(HELM, "template", "istiod", os.path.join(CHARTS, "istiod"),
                                   "-n", "istio-system", "-f", values))
            helm_cm = find(rendered, "ConfigMap", "istio")
            helm_mn = yaml.safe_load(helm_cm["data"]["meshNetworks"])
            ctl_mn = yaml.safe_load(istio_cm["data"]["meshNetworks"])
            if helm_mn != ctl_mn:
                raise SystemExit(f"meshNetworks differ:\nhelm: {helm_mn}\nours: {ctl_mn}")
            if not helm_mn["networks"]:
                raise SystemExit("empty meshNetworks: the comparison proves nothing")
        check_locality(tmp)

    # The guide's Step 7 flags, verbatim.
    flags = ["--set", "name=istio-eastwestgateway", "--set", "labels.app=istio-eastwestgateway",
             "--set", "labels.istio=eastwestgateway",
             "--set", "labels.topology.istio.io/network=cluster1",
             "--set", "networkGateway=cluster1", "--set", "service.type=LoadBalancer",
             "--set", "service.loadBalancerClass=tailscale",
             "--set", 'service.annotations.tailscale\\.com/hostname=cluster1-istio-eastwestgateway',
             "--set", 'service.annotations.tailscale\\.com/tags=tag:istio-eastwestgateway']
    for i, (name, port) in enumerate((("status-port", 15021), ("tls", 15443),
                                      ("tls-istiod", 15012), ("tls-webhook", 15017))):
        flags += ["--set", f"service.ports[{i}].name={name}", "--set", f"service.ports[{i}].port={port}",
                  "--set", f"service.ports[{i}].targetPort={port}"]
    chart = find(objects(run(HELM, "template", "istio-eastwestgateway",
                             os.path.join(CHARTS, "gateway"), "--namespace", "istio-system",
                             *flags)), "Service", "istio-eastwestgateway")
    ours = find(json.loads(run(MESHCTL, "render", "--cluster", "cluster1", "-f",
                               os.path.join(SRC, "deploy", "examples"), "-o", "json"))["items"],
                "Service", "istio-eastwestgateway")
    problems = []
    for key in ("app", "istio", "topology.istio.io/network"):
        if chart["metadata"]["labels"].get(key) != ours["metadata"]["labels"].get(key):
            problems.append(f"label {key}")
    if chart["metadata"]["annotations"] != ours["metadata"]["annotations"]:
        problems.append(f"annotations {chart['metadata']['annotations']} vs {ours['metadata']['annotations']}")
    for key in ("type", "loadBalancerClass", "ports", "selector"):
        if chart["spec"].get(key) != ours["spec"].get(key):
            problems.append(f"spec.{key}: {chart['spec'].get(key)} vs {ours['spec'].get(key)}")
    if chart["metadata"]["name"] != ours["metadata"]["name"] or \
            chart["metadata"]["namespace"] != ours["metadata"]["namespace"]:
        problems.append("name/namespace")
    if problems:
        raise SystemExit("gateway Service differs from the chart: " + "; ".join(problems))
    print("ok")


main()
