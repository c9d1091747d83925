"""The guide's Steps 1 and 2 as `meshctl render` prints them, checked against the real
Tailscale operator chart (../shared/fixtures/tailscale/operator-chart, rendered by the real
helm in tools/): the operator values give each cluster's operator the hostname its peers'
remote secrets dial and the API-server proxy mode its auth needs, and the tailnet policy
grants exactly the tags those values make the devices carry, impersonating a reader group,
never system:masters. Fails when tools/helm is absent: scripts/setup installs it."""
import json
import os
import subprocess
import sys
import tempfile

import yaml

MESHCTL = sys.argv[1]
SRC = os.environ.get("MC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
HELM = os.path.join(SRC, "tools", "helm")
CHART = os.path.join(SRC, "..", "shared", "fixtures", "tailscale", "operator-chart")

SET = """
apiVersion: meshcluster.io/v1alpha1
kind: MeshCluster
metadata: {name: paris}
spec:
  tailscale: {tailnet: acme.ts.net, apiServerProxyHostname: paris-api,
              gatewayTags: ["tag:mesh-gw", "tag:paris"]}
  gateway: {ports: {tls: 25443, status: 16021}}
---
apiVersion: meshcluster.io/v1alpha1
kind: MeshCluster
metadata: {name: tokyo}
spec:
  tailscale: {tailnet: acme.ts.net}
  remoteSecret:
    auth: secret
    secretRef: {namespace: tailscale, name: tokyo-token, key: token}
"""


def meshctl(*args, expect=0):
    p = subprocess.run([MESHCTL, "render", *args], capture_output=True, text=True, timeout=60)
    if p.returncode != expect:
        raise SystemExit(f"render {args}: exit {p.returncode}, want {expect}: {p.stderr}")
    return p


def helm_env(values_file):
    """The operator Deployment's env from the real chart rendered with values_file."""
    p = subprocess.run([HELM, "template", "op", CHART, "-n", "tailscale", "-f", values_file,
                        "--set-string", "oauth.clientId=id,oauth.clientSecret=secret"],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise SystemExit(f"helm template refused the values: {p.stderr}")
    docs = [d for d in yaml.safe_load_all(p.stdout) if d]
    dep = next(d for d in docs if d["kind"] == "Deployment")
    env = {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    return env, docs


def check_operator_values(tmp, mesh):
    seen = {}
    for cluster, host, mode in (("paris", "paris-api", "true"), ("tokyo", "tokyo-k8s-operator", "noauth")):
        out = meshctl("--tailscale-operator-values", "--cluster", cluster, "-f", mesh).stdout
        path = os.path.join(tmp, cluster + ".yaml")
        with open(path, "w") as f:
            f.write(out)
        env, docs = helm_env(path)
        assert env["OPERATOR_HOSTNAME"] == host, env
        assert env["APISERVER_PROXY"] == mode, env
        # Auth mode is what needs the chart's impersonation ClusterRole; noauth must not get it.
        impersonates = any(d["kind"] == "ClusterRole" and "impersonate" in json.dumps(d) for d in docs)
        assert impersonates == (mode == "true"), (cluster, impersonates)
        seen[cluster] = env
    return seen


def check_policy(policy, env, gateway_tags, ports):
    text = json.dumps(policy)
    assert "system:masters" not in text, "the policy must not grant cluster-admin"
    operator_tags = set(env["OPERATOR_INITIAL_TAGS"].split(","))
    proxy_tags = set(env["PROXY_TAGS"].split(","))
    owners = policy["tagOwners"]
    for t in operator_tags:
        assert owners[t] == ["autogroup:admin"], owners
    for t in proxy_tags | set(gateway_tags):
        assert owners[t] == sorted(operator_tags), (t, owners)  # the operator creates them
    api, gw = policy["grants"]
    assert set(api["src"]) == proxy_tags and set(api["dst"]) == operator_tags, api
    assert api["app"]["tailscale.com/cap/kubernetes"] == [
        {"impersonate": {"groups": ["meshcluster:istio-reader"]}}], api
    assert set(gw["src"]) == proxy_tags and gw["dst"] == sorted(gateway_tags), gw
    assert gw["ip"] == sorted(f"tcp:{p}" for p in ports), gw


def main():
    if not os.access(HELM, os.X_OK):
        raise SystemExit("FAIL: tools/helm is absent (scripts/setup installs it)")
    with tempfile.TemporaryDirectory() as tmp:
        mesh = os.path.join(tmp, "mesh.yaml")
        with open(mesh, "w") as f:
            f.write(SET)
        env = check_operator_values(tmp, mesh)
        assert env["paris"]["PROXY_TAGS"] == env["tokyo"]["PROXY_TAGS"]
        policy = json.loads(meshctl("--tailnet-policy", "-f", mesh).stdout)
        check_policy(policy, env["paris"], ["tag:istio-eastwestgateway", "tag:mesh-gw", "tag:paris"],
                     {25443, 16021, 15443, 15021, 15012, 15017})

        # One source of truth: custom tags and group flow into both outputs alike.
        custom = ("--proxy-tag", "tag:mesh-egress", "--operator-tag", "tag:mesh-op",
                  "--reader-group", "platform:istio-readers")
        vals = yaml.safe_load(meshctl("--tailscale-operator-values", "--cluster", "paris",
                                      "-f", mesh, *custom).stdout)
        pol = json.loads(meshctl("--tailnet-policy", "-f", mesh, *custom).stdout)
        assert vals["proxyConfig"]["defaultTags"] == "tag:mesh-egress"
        assert vals["operatorConfig"]["defaultTags"] == ["tag:mesh-op"]
        assert pol["grants"][0]["src"] == ["tag:mesh-egress"] and pol["grants"][0]["dst"] == ["tag:mesh-op"]
        assert "platform:istio-readers" in json.dumps(pol)

        # Refusals: an invalid MeshCluster is named with its field; bad flags are usage errors.
        bad = os.path.join(tmp, "bad.yaml")
        with open(bad, "w") as f:
            f.write(SET + "---\napiVersion: meshcluster.io/v1alpha1\nkind: MeshCluster\n"
                    "metadata: {name: lima}\nspec:\n  tailscale: {tailnet: acme.ts.net, "
                    "gatewayTags: [\"not-a-tag\"]}\n")
        p = meshctl("--tailnet-policy", "-f", bad, expect=1)
        assert p.stdout == "" and 'MeshCluster "lima": Accepted=False' in p.stderr, p.stderr
        assert "spec.tailscale.gatewayTags" in p.stderr, p.stderr
        meshctl("--tailscale-operator-values", "-f", mesh, expect=2)  # no --cluster
        meshctl("--tailnet-policy", "-f", mesh, "--proxy-tag", "k8s", expect=2)
        meshctl("--tailscale-operator-values", "--cluster", "nowhere", "-f", mesh, expect=1)
    print("ok")


main()
