"""Proves that YAML written by k8s_yaml_emit is read back to the same values by an
independent YAML 1.1 reader (PyYAML, the same resolution family as kubectl's go-yaml v2),
that kubectl itself (`kubectl kustomize`, Go YAML) reads an emitted ConfigMap holding every
tricky string back unchanged (skipped, with a notice, when tools/kubectl is absent), and that
k8s_yaml_parse_all agrees with PyYAML on documents where both rule sets coincide."""
import json
import os
import subprocess
import sys
import tempfile

import yaml

TOOL = sys.argv[1]
SRC = os.environ.get("MC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))

TRICKY = ["true", "False", "yes", "on", "null", "~", "", "15443", "0x1F", "017", "1_000",
          "1e3", ".5", "-1", ".inf", "a: b", "a:b", "#x", "x #y", "- a", "-", "?", "[a]",
          "*x", "&x", "!x", "|", ">", "'q'", '"d"', "%x", "@x", " lead", "trail ",
          "tab\there", "line1\nline2", "line1\nline2\n", "ends\n\n", "\nlead nl",
          "  indented\nblock", "<<", "=", "2001-12-14", "1:20", "unicode é ✓",
          "trailing   \nspaces", "tag:istio-eastwestgateway", "*.local", "0b101"]


def run(mode, data):
    p = subprocess.run([TOOL, mode], input=data.encode(), capture_output=True, timeout=30)
    if p.returncode != 0:
        raise SystemExit(f"tool {mode} failed: {p.stderr.decode()}")
    return p.stdout.decode()


def main():
    doc = {"list": TRICKY, "keys": {s: s for s in TRICKY},
           "nums": [0, 1, -3, 15443, 0.1, 1.5e-7, 1e20], "flags": [True, False, None],
           "nested": {"a": [{"b": []}, {}], "c": {"d": {"e": "f"}}}}
    docs = [doc, {"apiVersion": "v1", "kind": "Secret", "stringData": {"x": "a: 1\n"}}]
    out = run("emit", json.dumps(docs))
    back = list(yaml.safe_load_all(out))
    if back != docs:
        for k in doc["keys"]:
            if back[0]["keys"].get(k) != k:
                print("key mismatch", repr(k))
        raise SystemExit("PyYAML read back something else:\n" + out)

    for name in ("kubeconfig.yaml", "multi.yaml"):
        with open(os.path.join(SRC, "tests", "yaml", "fixtures", name), encoding="utf-8") as f:
            text = f.read()
        ours = json.loads(run("parse", text))
        theirs = [d for d in yaml.safe_load_all(text) if d is not None]
        if ours != theirs:
            raise SystemExit(f"{name}: parse differs from PyYAML\n{ours}\n{theirs}")
    kubectl = os.path.join(SRC, "tools", "kubectl")
    if not os.access(kubectl, os.X_OK):
        print("NOTICE: tools/kubectl absent; kubectl read-back not checked")
    else:
        cm = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "tricky", "annotations": {f"a{i}": s for i, s in enumerate(TRICKY)}},
              "data": {f"k{i}": s for i, s in enumerate(TRICKY)}}
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "cm.yaml"), "w", encoding="utf-8") as f:
                f.write(run("emit", json.dumps([cm])))
            with open(os.path.join(tmp, "kustomization.yaml"), "w") as f:
                f.write("resources:\n- cm.yaml\n")
            p = subprocess.run([kubectl, "kustomize", tmp], capture_output=True, text=True,
                               timeout=60, env=dict(os.environ, KUBECONFIG="/dev/null"))
            if p.returncode != 0:
                raise SystemExit("kubectl kustomize failed: " + p.stderr)
            # kustomize writes a plain `<<` value that PyYAML mistakes for a merge key, so its
            # output is read with our parser (which types it as go-yaml does).
            back = json.loads(run("parse", p.stdout))[0]
            for section in ("data",):
                if back[section] != cm[section]:
                    bad = [k for k in cm[section] if back[section].get(k) != cm[section][k]]
                    raise SystemExit(f"kubectl read back different {section}: {bad}")
            if back["metadata"]["annotations"] != cm["metadata"]["annotations"]:
                raise SystemExit("kubectl read back different annotations")
    print("ok")


main()
