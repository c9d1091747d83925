"""Proves `meshctl render` end to end: YAML (default) and JSON outputs carry the same
objects, YAML/JSON/List inputs from files and directories are read, output is the same for
any file order, and invalid input exits 1 with field-level messages and prints nothing."""
import json
import os
import subprocess
import sys
import tempfile

import yaml

MESHCTL = sys.argv[1]
SRC = os.environ.get("MC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(SRC, "deploy", "examples")


def render(*args, expect=0):
    p = subprocess.run([MESHCTL, "render", *args], capture_output=True, text=True, timeout=60)
    if p.returncode != expect:
        raise SystemExit(f"render {args}: exit {p.returncode}, want {expect}: {p.stderr}")
    return p


def main():
    y = render("--cluster", "cluster1", "-f", EXAMPLES).stdout
    j = json.loads(render("--cluster", "cluster1", "-f", EXAMPLES, "-o", "json").stdout)
    docs = [d for d in yaml.safe_load_all(y) if d]
    assert j["kind"] == "List" and docs == j["items"], "yaml and json outputs differ"
    assert len(docs) == 13, len(docs)

    with tempfile.TemporaryDirectory() as tmp:
        # The same three clusters as one JSON List and as files given in reverse order.
        items = []
        for n in ("cluster3", "cluster2", "cluster1"):
            with open(os.path.join(EXAMPLES, n + ".yaml")) as f:
                items.append(yaml.safe_load(f))
        lst = os.path.join(tmp, "list.json")
        with open(lst, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": items}, f)
        assert render("--cluster", "cluster1", "-f", lst).stdout == y, "List input differs"
        files = [os.path.join(EXAMPLES, f"cluster{i}.yaml") for i in (3, 1, 2)]
        args = sum((["-f", f] for f in files), [])
        assert render("--cluster", "cluster1", *args).stdout == y, "file order changed output"

        bad = os.path.join(tmp, "bad.yaml")
        with open(bad, "w") as f:
            f.write("apiVersion: meshcluster.io/v1alpha1\nkind: MeshCluster\nmetadata:\n"
                    "  name: Bad_Name\nspec:\n  tailscale:\n    tailnet: your-tailnet.ts.net\n")
        p = render("--cluster", "cluster1", "-f", EXAMPLES, "-f", bad, expect=1)
        assert p.stdout == "", "invalid input must print no objects"
        assert 'MeshCluster "Bad_Name": Accepted=False InvalidName: metadata.name' in p.stderr, p.stderr

        broken = os.path.join(tmp, "broken.yaml")
        with open(broken, "w") as f:
            f.write("kind: MeshCluster\nmetadata: {name: [\n")
        p = render("--cluster", "cluster1", "-f", broken, expect=1)
        assert "line 3, column 1" in p.stderr, p.stderr

    render("--cluster", "cluster1", expect=2)
    render("--cluster", "cluster1", "-f", EXAMPLES, "-o", "xml", expect=2)
    only = render("--cluster", "cluster2", "-f", EXAMPLES, "--mesh-networks", "configmap").stdout
    kinds = [(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(only) if d]
    assert ("ConfigMap", "istio") in kinds and ("ConfigMap", "meshcluster-istiod-values") not in kinds
    print("ok")


main()
