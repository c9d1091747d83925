"""Peers read this cluster without cluster-admin (issue 16 section 1), proven by the real
API server's RBAC: the chart's meshcluster-istio-reader ClusterRole, bound to the group the
tailnet policy impersonates and to the reader ServiceAccount, is asked with
`kubectl auth can-i --list` and by impersonated and token requests:
  - it can read what istiod's remote-cluster controllers read (Services, EndpointSlices, Pods,
    Nodes, Namespaces, Secrets and ConfigMaps cluster-wide, Istio's types, CRDs);
  - it cannot write anything (create/update/patch/delete), cannot touch RBAC, impersonate,
    escalate, bind or mint tokens; the only creates it has are the review objects
    (TokenReview, SubjectAccessReview) and the self-reviews every user has;
  - a token of the reader ServiceAccount (what auth "secret" puts in a peer's token Secret)
    gets the same answers;
  - `meshctl render --tailnet-policy` impersonates exactly the chart's group and never
    system:masters.
Real servers only (the lite server has no impersonation)."""
import json
import os
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib as L  # noqa: E402

GROUP = "meshcluster:istio-reader"
SA = "meshcluster-istio-reader"
AS_PEER = ("--as=tailnet-peer@example", "--as-group=" + GROUP)
# Every authenticated user may create these (system:basic-user, system:public-info-viewer).
SELF_REVIEWS = {"selfsubjectaccessreviews.authorization.k8s.io", "selfsubjectrulesreviews.authorization.k8s.io",
                "selfsubjectreviews.authentication.k8s.io"}
REVIEWS = {"tokenreviews.authentication.k8s.io", "subjectaccessreviews.authorization.k8s.io"}
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "*", "impersonate", "escalate",
               "bind", "approve", "sign"}


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok: " + what)


def can_i_list(c, *who):
    """kubectl auth can-i --list as rows (resource, verbs)."""
    out = c.kubectl("auth", "can-i", "--list", *who).stdout.splitlines()
    rows = []
    for line in out[1:]:
        if not line.strip() or "[" not in line:
            continue
        resource = line.split()[0]
        verbs = line[line.rindex("[") + 1:line.rindex("]")].split()
        rows.append((resource, set(verbs)))
    return rows


def can_i(c, who, *args):
    r = c.kubectl("auth", "can-i", *args, *who, check=False)
    return r.stdout.strip() == "yes"


def check_identity(c, who, label):
    rows = can_i_list(c, *who)
    writes = {(res, frozenset(v & WRITE_VERBS)) for res, v in rows if v & WRITE_VERBS}
    unexpected = {(res, tuple(sorted(v))) for res, v in writes
                  if not (res in REVIEWS | SELF_REVIEWS and v == {"create"})}
    check(not unexpected, "%s: no write, RBAC or impersonation verb but the review creates (%s)"
          % (label, sorted(unexpected)))
    for what in (("list", "secrets", "-A"), ("watch", "endpointslices.discovery.k8s.io", "-A"),
                 ("list", "pods", "-A"), ("get", "nodes"), ("list", "namespaces"),
                 ("list", "services", "-A"), ("list", "configmaps", "-A"),
                 ("list", "gateways.networking.istio.io", "-A"),
                 ("list", "customresourcedefinitions.apiextensions.k8s.io"),
                 ("create", "tokenreviews.authentication.k8s.io")):
        check(can_i(c, who, *what), "%s can %s" % (label, " ".join(what)))
    for what in (("create", "configmaps", "-n", "istio-system"), ("delete", "pods", "-n", "default"),
                 ("patch", "services", "-n", "istio-system"), ("update", "secrets", "-n", "istio-system"),
                 ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
                 ("escalate", "clusterroles.rbac.authorization.k8s.io"),
                 ("bind", "clusterroles.rbac.authorization.k8s.io"),
                 ("impersonate", "groups"), ("impersonate", "users"),
                 ("create", "serviceaccounts/token", "-n", "istio-system"),
                 ("create", "serviceexports.multicluster.x-k8s.io", "-n", "default")):
        check(not can_i(c, who, *what), "%s cannot %s" % (label, " ".join(what)))


def body(tmp, clusters):
    c = clusters[0]
    check_identity(c, AS_PEER, "the impersonated group")

    # Requests, not only can-i: an impersonated read succeeds, an impersonated write is refused.
    got = c.kubectl("get", "secrets", "-A", "-o", "name", *AS_PEER, check=False)
    check(got.returncode == 0, "impersonated list of Secrets succeeds")
    put = c.kubectl("create", "configmap", "x", "-n", "default", *AS_PEER, check=False)
    check(put.returncode != 0 and "forbidden" in put.stderr.lower(), "impersonated create is forbidden")

    # The reader ServiceAccount's own token (auth "secret").
    token = c.kubectl("create", "token", SA, "-n", L.CHART_NS, "--duration=10m").stdout.strip()
    check_identity(c, ("--as=system:serviceaccount:%s:%s" % (L.CHART_NS, SA),), "the reader ServiceAccount")
    env = dict(os.environ, KUBECONFIG=os.devnull)
    r = subprocess.run([L.KUBECTL, "--server", c.info["url"], "--certificate-authority", c.info["ca_file"],
                        "--token", token, "get", "services", "-A", "-o", "name"],
                       capture_output=True, text=True, timeout=30, env=env)
    check(r.returncode == 0, "the reader token lists Services")
    r = subprocess.run([L.KUBECTL, "--server", c.info["url"], "--certificate-authority", c.info["ca_file"],
                        "--token", token, "delete", "service", "kubernetes", "-n", "default"],
                       capture_output=True, text=True, timeout=30, env=env)
    check(r.returncode != 0 and "forbidden" in r.stderr.lower(), "the reader token cannot delete")

    # The tailnet policy impersonates the chart's group, never system:masters.
    with open(os.path.join(L.REPO, "deploy", "helm", "meshcluster", "values.yaml")) as f:
        chart_group = yaml.safe_load(f)["istioReader"]["group"]
    check(chart_group == GROUP, "the chart's default group is " + GROUP)
    mesh = os.path.join(tmp, "mesh.yaml")
    with open(mesh, "w") as out:
        for n in ("cluster1", "cluster2", "cluster3"):
            with open(os.path.join(L.EXAMPLES, n + ".yaml")) as f:
                out.write(f.read() + "\n---\n")
    pol = subprocess.run([os.path.join(L.BUILD, "meshctl"), "render", "--tailnet-policy", "-f", mesh],
                         capture_output=True, text=True, timeout=30)
    check(pol.returncode == 0, "meshctl render --tailnet-policy succeeds: " + pol.stderr)
    text = json.dumps(json.loads(pol.stdout))
    check("system:masters" not in text and GROUP in text, "the policy impersonates the reader group only")


if not L.REAL:
    raise SystemExit("reconciler_e2e_reader needs a real API server (impersonation, RBAC)")
L.run(["cluster1"], body)
