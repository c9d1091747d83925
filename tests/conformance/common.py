"""Shared bits of the conformance scenarios: the harness from tests/apiserver, fixture paths,
and which real clients are present. The scenarios run against a real cluster
(tests/support/real-cluster) unless MC_TEST_SERVER=lite selects kube-apiserver-lite; on a real
one the lite server's fault injection skips the scenarios that need it."""
import os
import sys
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "apiserver"))

import harness  # noqa: E402
import realserver  # noqa: E402
from harness import HELM, KUBECTLS, SHARED, have, wait_for  # noqa: E402,F401

REAL = realserver.server_kind() == "real"


def Server(*args, **kw):
    """The harness's Server, real unless MC_TEST_SERVER=lite."""
    kw.setdefault("real", REAL)
    return harness.Server(*args, **kw)

FIXTURES = os.path.join(HERE, "fixtures")
ISTIO_CRDS = os.path.join(SHARED, "fixtures", "istio", "charts", "base", "files", "crd-all.gen.yaml")
TAILSCALE_CRDS = os.path.join(SHARED, "fixtures", "tailscale", "crds")
MESHCLUSTER_CRD = os.path.join(FIXTURES, "meshcluster-crd.yaml")
MESHCLUSTER_SAMPLE = os.path.join(FIXTURES, "meshcluster-sample.yaml")


def kubectl_versions(include_127=True):
    """Versions to run: the image's kubectl (1.32), tools/kubectl (1.34) when present, and
    kubectl.1.27 (with --validate=false, as it wants OpenAPI v2 protobuf)."""
    out = []
    for v in ("1.32", "1.34") + (("1.27",) if include_127 else ()):
        if have(KUBECTLS[v]):
            out.append(v)
        else:
            print("SKIP kubectl %s: %s is absent" % (v, KUBECTLS[v]), file=sys.stderr)
    return out


def validate_args(version):
    return ["--validate=false"] if version == "1.27" else []


def main():
    unittest.main(verbosity=2)
