"""Shared set-up for the pure-module unit tests: import path, fixture paths, one loaded registry."""
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
APISERVER = os.path.dirname(HERE)
if APISERVER not in sys.path:
    sys.path.insert(0, APISERVER)

import yaml  # noqa: E402

from kal.schema import SchemaRegistry  # noqa: E402

REPO = os.path.dirname(os.path.dirname(APISERVER))
SHARED = os.environ.get("MC_SHARED") or os.path.join(os.path.dirname(REPO), "shared")
OPENAPI = os.path.join(SHARED, "fixtures", "kubernetes-openapi", "1.32")
ISTIO_CRDS = os.path.join(SHARED, "fixtures", "istio", "charts", "base", "files", "crd-all.gen.yaml")
TAILSCALE_CRDS = sorted(glob.glob(os.path.join(SHARED, "fixtures", "tailscale", "crds", "*.yaml")))

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MESHCLUSTER_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "meshclusters.meshcluster.io"},
    "spec": {
        "group": "meshcluster.io", "scope": "Cluster",
        "names": {"kind": "MeshCluster", "plural": "meshclusters", "singular": "meshcluster",
                  "listKind": "MeshClusterList"},
        "versions": [{
            "name": "v1alpha1", "served": True, "storage": True,
            "subresources": {"status": {}},
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                    "metadata": {"type": "object"},
                    "spec": {
                        "type": "object", "required": ["clusterName", "network"],
                        "properties": {
                            "clusterName": {"type": "string", "maxLength": 8, "pattern": "^[a-z][-a-z0-9]*$"},
                            "network": {"type": "string"},
                            "replicas": {"type": "integer", "minimum": 1, "default": 1},
                            "mode": {"type": "string", "enum": ["primary", "remote"], "default": "primary"},
                            "port": {"x-kubernetes-int-or-string": True},
                            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                                         "properties": {"spec": {"type": "object",
                                                                 "properties": {"a": {"type": "string"}}}}},
                            "peers": {"type": "array", "x-kubernetes-list-type": "map",
                                      "x-kubernetes-list-map-keys": ["name"],
                                      "items": {"type": "object", "required": ["name"],
                                                "properties": {"name": {"type": "string"},
                                                               "address": {"type": "string"},
                                                               "weight": {"type": "integer", "default": 10}}}},
                            "tags": {"type": "array", "x-kubernetes-list-type": "set",
                                     "items": {"type": "string"}},
                            "args": {"type": "array", "items": {"type": "string"}},
                        }},
                    "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
                }}},
        }],
    },
}

_registry = None


def load_yaml_docs(path):
    with open(path, encoding="utf-8") as fh:
        return [d for d in yaml.load_all(fh, Loader=_Loader) if d]


def crds_from(paths):
    out = []
    for p in paths:
        out += [d for d in load_yaml_docs(p) if d.get("kind") == "CustomResourceDefinition"]
    return out


def registry():
    """One registry with the built-in documents, the Istio and Tailscale CRDs and MeshCluster.
    Tests must not add or remove kinds other than on their own fresh registries."""
    global _registry
    if _registry is None:
        r = SchemaRegistry()
        r.load_openapi_dir(OPENAPI)
        for crd in crds_from([ISTIO_CRDS] + TAILSCALE_CRDS):
            r.add_crd(crd)
        r.add_crd(json.loads(json.dumps(MESHCLUSTER_CRD)))
        _registry = r
    return _registry


def clone(x):
    return json.loads(json.dumps(x))
