#!/usr/bin/python3
"""Every ctest test carries exactly one kind label, so `ctest -L <kind>` selects by kind:

  unit         no server, no daemon, no external tool: seconds for all of them
  integration  one module against a real process or tool (an API server, openssl, helm)
  e2e          meshclusterd / meshctl end to end against API servers
  conformance  real clients (kubectl, python-kubernetes, helm) against the servers
  fuzz         fuzz targets (corpus replay, or libFuzzer under MC_FUZZ)
  soak         long runs under churn
  harness      the test tooling's own tests (the lite API server, the real cluster, differential)

Other labels (apiserver, nosan, real, pki, ...) say what a test needs and stay as they are.
Also: no unit test runs under tests/support/with-apiserver. Reads the build's test list with
`ctest --show-only=json-v1`; fails naming every test that breaks a rule."""
import json
import os
import subprocess
import sys

KINDS = {"unit", "integration", "e2e", "conformance", "fuzz", "soak", "harness"}


def main():
    build = os.environ.get("MC_BUILD_DIR") or (sys.argv[1] if len(sys.argv) > 1 else "build")
    out = subprocess.run(["ctest", "--test-dir", build, "--show-only=json-v1"],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    tests = json.loads(out)["tests"]
    bad = []
    for t in tests:
        labels = next((p["value"] for p in t.get("properties", []) if p["name"] == "LABELS"), [])
        kinds = sorted(KINDS.intersection(labels))
        if len(kinds) != 1:
            bad.append("%s: labels %s, want exactly one of %s" % (t["name"], labels, sorted(KINDS)))
        elif kinds[0] == "unit" and any("with-apiserver" in a for a in t.get("command", [])):
            bad.append("%s: a unit test under with-apiserver" % t["name"])
    for b in bad:
        print(b)
    print("%d tests, %d without one kind label" % (len(tests), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
