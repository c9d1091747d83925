"""Proves deploy/crds/meshcluster.yaml is the resource the issue asks for (group, version,
cluster scope, plural, short name, status subresource, printer columns), is structural
(every schema node typed), accepts deploy/examples and rejects bad names, ports and enums,
and that its defaults are the controller's: a MeshCluster with the CRD's defaults filled in
renders byte-identically to the same object without them."""
import copy
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

MESHCTL = sys.argv[1]
SRC = os.environ.get("MC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def check_structural(node, path):
    if "properties" in node or "items" in node:
        assert "type" in node, f"{path}: untyped node"
    for k, v in node.get("properties", {}).items():
        assert "type" in v, f"{path}.{k}: no type"
        check_structural(v, f"{path}.{k}")
    if "items" in node:
        check_structural(node["items"], path + "[]")


def check_bounded(node, path):
    """Issue 18.7: every spec string has a maxLength (or an enum), every list a maxItems."""
    if node.get("type") == "string":
        assert "maxLength" in node or "enum" in node, f"{path}: unbounded string"
    if node.get("type") == "array":
        assert "maxItems" in node, f"{path}: unbounded list"
    for k, v in node.get("properties", {}).items():
        check_bounded(v, f"{path}.{k}")
    if "items" in node:
        check_bounded(node["items"], path + "[]")


def validate(value, schema, path="", errors=None):
    """The subset of OpenAPI v3 validation the CRD uses."""
    errors = [] if errors is None else errors
    t = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "boolean": bool}
    if t == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{path}: not an integer")
            return errors
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: below minimum")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: above maximum")
    elif t in types and not isinstance(value, types[t]):
        errors.append(f"{path}: not {t}")
        return errors
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: not in enum")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: does not match {schema['pattern']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: too long")
    if isinstance(value, dict):
        for r in schema.get("required", []):
            if r not in value:
                errors.append(f"{path}.{r}: required")
        for k, v in value.items():
            if k in schema.get("properties", {}):
                validate(v, schema["properties"][k], f"{path}.{k}", errors)
    if isinstance(value, list) and "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{path}: too many items")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            validate(v, schema["items"], f"{path}[{i}]", errors)
    return errors


def apply_defaults(value, schema):
    if isinstance(value, dict):
        for k, sub in schema.get("properties", {}).items():
            if k not in value and "default" in sub:
                value[k] = copy.deepcopy(sub["default"])
            if k in value:
                apply_defaults(value[k], sub)
    return value


def render(path, cluster):
    p = subprocess.run([MESHCTL, "render", "--cluster", cluster, "-f", path],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def main():
    with open(os.path.join(SRC, "deploy", "crds", "meshcluster.yaml")) as f:
        crd = yaml.safe_load(f)
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "meshclusters.meshcluster.io"
    assert spec["group"] == "meshcluster.io" and spec["scope"] == "Cluster"
    assert spec["names"]["plural"] == "meshclusters" and spec["names"]["kind"] == "MeshCluster"
    assert spec["names"]["shortNames"] == ["mc"]
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    cols = [c["name"] for c in version["additionalPrinterColumns"]]
    assert cols == ["Network", "Role", "Ready", "Gateway", "Age"], cols
    schema = version["schema"]["openAPIV3Schema"]
    check_structural(schema, "")
    check_bounded(schema["properties"]["spec"], ".spec")
    rules = json.dumps(schema["properties"]["spec"])
    assert "x-kubernetes-validations" in rules and "self.auth != 'secret'" in rules
    status = schema["properties"]["status"]["properties"]
    for key in ("observedGeneration", "role", "gatewayAddress", "trust", "conditions"):
        assert key in status, key
    cond = status["conditions"]["items"]
    assert set(cond["required"]) == {"type", "status", "lastTransitionTime", "reason", "message"}

    examples = os.path.join(SRC, "deploy", "examples")
    objs = []
    for name in sorted(os.listdir(examples)):
        with open(os.path.join(examples, name)) as f:
            obj = yaml.safe_load(f)
        errs = validate(obj, schema)
        assert not errs, f"{name}: {errs}"
        objs.append(obj)
    assert len(objs) >= 2

    bad = copy.deepcopy(objs[0])
    bad["metadata"]["name"] = "Bad_Name"
    bad["spec"]["gateway"] = {"ports": {"tls": 70000}}
    bad["spec"]["remoteSecret"] = {"auth": "password"}
    bad["spec"]["tailscale"]["gatewayTags"] = ["istio"]
    errs = " ".join(validate(bad, schema))
    for frag in (".metadata.name", ".spec.gateway.ports.tls", ".spec.remoteSecret.auth",
                 ".spec.tailscale.gatewayTags[0]"):
        assert frag in errs, (frag, errs)

    # Issue 18.2 and 18.7: the injection payload, credentials in the URL, unbounded values.
    bad = copy.deepcopy(objs[0])
    bad["spec"]["remoteSecret"] = {"server": "https://x\n    insecure-skip-tls-verify: true\n",
                                   "secretRef": {"name": "t", "key": "a/b"}}
    bad["spec"]["tailscale"]["gatewayTags"] = ["tag:t%d" % i for i in range(10000)]
    bad["spec"]["locality"] = {"region": "r" * (1 << 20), "zone": "a b"}
    bad["spec"]["tailscale"]["proxyClass"] = "Small"
    errs = " ".join(validate(bad, schema))
    for frag in (".spec.remoteSecret.server", ".spec.tailscale.gatewayTags: too many",
                 ".spec.locality.region: too long", ".spec.locality.zone",
                 ".spec.remoteSecret.secretRef.key", ".spec.tailscale.proxyClass"):
        assert frag in errs, (frag, errs)
    for url in ("https://u:p@h.example.com", "https://h.example.com/?q", "http://h.example.com",
                "https://h.example.com:6443/x y"):
        bad["spec"]["remoteSecret"] = {"server": url}
        assert ".spec.remoteSecret.server" in " ".join(validate(bad, schema)), url

    with tempfile.TemporaryDirectory() as tmp:
        plain, defaulted = os.path.join(tmp, "plain.yaml"), os.path.join(tmp, "defaulted.yaml")
        with open(plain, "w") as f:
            yaml.safe_dump_all(objs, f)
        with_defaults = [apply_defaults(copy.deepcopy(o), schema) for o in objs]
        for o in with_defaults:  # sub-objects the server would default only if present
            o["spec"].setdefault("gateway", {}).setdefault("ports", {})
            apply_defaults(o, schema)
            o["spec"].setdefault("remoteSecret", {})
            apply_defaults(o, schema)
        assert with_defaults[0]["spec"]["gateway"]["ports"]["tls"] == 15443
        with open(defaulted, "w") as f:
            yaml.safe_dump_all(with_defaults, f)
        for o in objs:
            c = o["metadata"]["name"]
            assert render(plain, c) == render(defaulted, c), f"CRD defaults differ for {c}"
    print("ok")


main()
