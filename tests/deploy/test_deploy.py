#!/usr/bin/python3
"""Proves the install manifests are sound with the real tools:
- `helm lint` passes; clusterName is required; every chart option (metrics Service,
  ServiceMonitor, NetworkPolicy, extraArgs, env, scheduling, podAnnotations) renders;
- `helm template` renders the same objects as `kubectl kustomize`
  of the kustomize base (field for field, apart from the Namespace object that kustomize
  carries and Helm leaves to --create-namespace);
- the RBAC is least-privilege (nothing cluster-wide but MeshClusters, their Events and the
  istio-system namespace's label; Services/Secrets/ConfigMaps/Gateways only in istio-system
  and tailscale; Leases only in the controller's namespace);
- the Deployment meets the restricted Pod Security profile, with probes on the health port;
- both install into the test API server with real helm and kubectl, and uninstall cleanly.
"""
import json
import os
import subprocess
import sys
import tempfile

import yaml

SRC = os.environ.get("MC_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
HELM = os.path.join(SRC, "tools/helm")
KUBECTL = os.path.join(SRC, "tools/kubectl")
CHART = os.path.join(SRC, "deploy/helm/meshcluster")
BASE = os.path.join(SRC, "deploy/kustomize/base")
NS = "meshcluster-system"

failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def run(*args, env=None, check_rc=True):
    p = subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=120)
    if check_rc and p.returncode != 0:
        raise SystemExit(f"FAIL: {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def docs(text):
    return [d for d in yaml.safe_load_all(text) if d]


def key(o):
    return (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])


def strip_helm(o):
    o = json.loads(json.dumps(o))
    md = o["metadata"]
    for k in ("helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance"):
        (md.get("labels") or {}).pop(k, None)
    return o


def check_chart_options():
    """Issue 14.10: clusterName is required at template time; the metrics Service is there by
    default, the ServiceMonitor and NetworkPolicy on request; scheduling, pod annotations,
    extra flags and environment reach the pod."""
    bare = run(HELM, "template", "meshcluster", CHART, "-n", NS, check_rc=False)
    check(bare.returncode != 0 and "clusterName is required" in bare.stderr,
          "helm template without clusterName fails, naming it")
    base = docs(run(HELM, "template", "meshcluster", CHART, "-n", NS, "--set", "clusterName=c1").stdout)
    kinds = sorted(o["kind"] for o in base)
    check("Service" in kinds and "ServiceMonitor" not in kinds and "NetworkPolicy" not in kinds,
          "defaults: a metrics Service, no ServiceMonitor, no NetworkPolicy (%s)" % kinds)
    values = {
        "clusterName": "paris",
        "extraArgs": ["--resync=5m"],
        "env": [{"name": "EXTRA", "value": "1"}],
        "podAnnotations": {"example.com/a": "b"},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 1, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                              "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "meshcluster"}}}}]}},
        "priorityClassName": "system-cluster-critical",
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
        "forceMeshNetworks": True,
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
        "networkPolicy": {"enabled": True, "metricsFrom": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]},
    }
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        yaml.safe_dump(values, f)
        f.flush()
        lint = run(HELM, "lint", CHART, "-f", f.name, check_rc=False)
        check(lint.returncode == 0, "helm lint passes with every option: " + lint.stdout[-300:])
        objs = {o["kind"]: o for o in docs(run(HELM, "template", "meshcluster", CHART, "-n", NS,
                                                 "-f", f.name).stdout)}
    pod = objs["Deployment"]["spec"]["template"]
    c = pod["spec"]["containers"][0]
    envs = {e["name"]: e.get("value") for e in c["env"]}
    check(envs.get("MC_CLUSTER_NAME") == "paris", "clusterName reaches MC_CLUSTER_NAME")
    check(envs.get("EXTRA") == "1" and envs.get("MC_FORCE_MESH_NETWORKS") == "true", "env and forceMeshNetworks")
    check(c.get("args") == ["--resync=5m"], "extraArgs become args")
    check(c["resources"]["requests"] == values["resources"]["requests"], "resources")
    check(pod["metadata"].get("annotations") == values["podAnnotations"], "podAnnotations")
    for k in ("nodeSelector", "tolerations", "affinity", "priorityClassName"):
        check(pod["spec"].get(k) == values[k], k)
    svc = objs["Service"]
    check(svc["spec"]["ports"][0]["targetPort"] == "metrics" and
          svc["spec"]["selector"] == objs["Deployment"]["spec"]["selector"]["matchLabels"],
          "metrics Service selects the pods' metrics port")
    sm = objs["ServiceMonitor"]
    check(sm["spec"]["endpoints"][0]["port"] == "metrics" and sm["metadata"]["labels"].get("release") == "prom",
          "ServiceMonitor scrapes the metrics port, with its labels")
    check(envs.get("MC_METRICS_SECURE") is None and "scheme" not in sm["spec"]["endpoints"][0],
          "metrics.secure is off by default: plain HTTP, no reviews")
    check_metrics_secure()
    np = objs["NetworkPolicy"]
    ports = [p["port"] for r in np["spec"]["ingress"] for p in r["ports"]]
    check(np["spec"]["policyTypes"] == ["Ingress"] and sorted(ports) == ["health", "metrics"] and
          np["spec"]["ingress"][1]["from"] == values["networkPolicy"]["metricsFrom"],
          "NetworkPolicy admits only the health port and metrics from metricsFrom")


def check_metrics_secure():
    """metrics.secure: the controller may create the two reviews (only then), its flag is set,
    the ServiceMonitor scrapes https with Prometheus' token, and certSecret mounts a given
    certificate."""
    def review_rules(objs):
        role = [o for o in objs if o["kind"] == "ClusterRole" and o["metadata"]["name"] == "meshcluster-controller"][0]
        return sorted((g, res, tuple(r["verbs"])) for r in role["rules"] for g in r["apiGroups"]
                      for res in r["resources"] if g in ("authentication.k8s.io", "authorization.k8s.io"))
    plain = docs(run(HELM, "template", "meshcluster", CHART, "-n", NS, "--set", "clusterName=c1").stdout)
    check(review_rules(plain) == [], "without metrics.secure the controller may not create reviews")
    args = [HELM, "template", "meshcluster", CHART, "-n", NS, "--set", "clusterName=c1", "--set",
            "metrics.secure=true", "--set", "metrics.serviceMonitor.enabled=true"]
    secure = docs(run(*args).stdout)
    check(review_rules(secure) == [("authentication.k8s.io", "tokenreviews", ("create",)),
                                   ("authorization.k8s.io", "subjectaccessreviews", ("create",))],
          "metrics.secure grants create on tokenreviews and subjectaccessreviews only")
    by = {o["kind"]: o for o in secure}
    c = by["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    envs = {e["name"]: e.get("value") for e in c["env"]}
    check(envs.get("MC_METRICS_SECURE") == "true" and "MC_METRICS_CERT_FILE" not in envs,
          "metrics.secure sets MC_METRICS_SECURE (self-signed certificate)")
    ep = by["ServiceMonitor"]["spec"]["endpoints"][0]
    check(ep.get("scheme") == "https" and ep.get("bearerTokenFile", "").endswith("serviceaccount/token")
          and ep.get("tlsConfig") == {"insecureSkipVerify": True},
          "the ServiceMonitor scrapes https with Prometheus' token")
    lint = run(HELM, "lint", CHART, "--set", "clusterName=c1", "--set", "metrics.secure=true", check_rc=False)
    check(lint.returncode == 0, "helm lint passes with metrics.secure: " + lint.stdout[-300:])
    given = {o["kind"]: o for o in docs(run(*(args + ["--set", "metrics.certSecret=metrics-tls"])).stdout)}
    pod = given["Deployment"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    envs = {e["name"]: e.get("value") for e in c["env"]}
    mount = next(m["mountPath"] for m in c["volumeMounts"] if m["name"] == "metrics-tls")
    check({"name": "metrics-tls", "secret": {"secretName": "metrics-tls"}} in pod["volumes"] and
          envs.get("MC_METRICS_CERT_FILE") == mount + "/tls.crt" and
          envs.get("MC_METRICS_KEY_FILE") == mount + "/tls.key",
          "metrics.certSecret mounts the Secret and points the flags at it")
    # istiod's view: on by default, with a projected token istiod's debug endpoint accepts.
    plain = {o["kind"]: o for o in docs(run(HELM, "template", "meshcluster", CHART, "--set", "clusterName=c1").stdout)}
    pod = plain["Deployment"]["spec"]["template"]["spec"]
    envs = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    proj = [v for v in pod.get("volumes", []) if v["name"] == "istio-ca-token"]
    check(envs.get("MC_ISTIOD_URL") == "http://istiod.istio-system.svc:15014" and
          envs.get("MC_PROBE_INTERVAL") == "30s" and proj and
          proj[0]["projected"]["sources"][0]["serviceAccountToken"]["audience"] == "istio-ca" and
          envs.get("MC_ISTIOD_TOKEN_FILE", "").startswith("/var/run/secrets/istio-ca/"),
          "probes every 30s and asks istiod with a projected istio-ca token")
    off = {o["kind"]: o for o in docs(run(HELM, "template", "meshcluster", CHART, "--set", "clusterName=c1",
                                          "--set", "istiod.enabled=false").stdout)}
    pod = off["Deployment"]["spec"]["template"]["spec"]
    check("volumes" not in pod and "MC_ISTIOD_URL" not in str(pod), "istiod.enabled=false asks nothing")


def check_crd_descriptions(crds):
    """`kubectl explain mc...` has something to say for every field (issue 14.9)."""
    missing = []

    def walk(schema, path):
        # A real kube-apiserver refuses anything but name/generateName rules under metadata.
        if path != ".metadata" and not schema.get("description"):
            missing.append(path or "(root)")
        for k, sub in (schema.get("properties") or {}).items():
            walk(sub, path + "." + k)
        if "items" in schema:
            walk(schema["items"], path + "[]")

    for crd in crds:
        for v in crd["spec"]["versions"]:
            walk(v["schema"]["openAPIV3Schema"], "")
    check(not missing, "every CRD field has a description (missing: %s)" % missing)


def check_istio_reader(role, kinds):
    """What peers' istiods get here (issue 16): reads, and the two review objects that are
    answered and never stored; no write, no RBAC, no impersonation, no wildcard verb; bound to
    the group the tailnet policy impersonates and to the reader ServiceAccount only."""
    reviews = {("authentication.k8s.io", "tokenreviews"), ("authorization.k8s.io", "subjectaccessreviews")}
    for r in role["rules"]:
        pairs = {(g, res) for g in r["apiGroups"] for res in r["resources"]}
        if pairs <= reviews:
            check(r["verbs"] == ["create"], f"reader: {sorted(pairs)} create only")
            continue
        check(set(r["verbs"]) <= {"get", "list", "watch"}, f"reader: {sorted(pairs)} read-only ({r['verbs']})")
        check(not any(g.startswith("rbac.authorization") or res in ("serviceaccounts/token",)
                      for g, res in pairs), "reader: no RBAC objects, no token requests")
        if "*" in r["resources"]:
            check(all(g.endswith(".istio.io") for g in r["apiGroups"]), "reader: wildcards only over Istio's groups")
    binding = [o for o in kinds.get("ClusterRoleBinding", []) if o["roleRef"]["name"] == "meshcluster-istio-reader"]
    check(len(binding) == 1, "one binding of meshcluster-istio-reader")
    subjects = sorted((s["kind"], s["name"]) for s in binding[0]["subjects"])
    check(subjects == [("Group", "meshcluster:istio-reader"), ("ServiceAccount", "meshcluster-istio-reader")],
          f"reader bound to its group and ServiceAccount only ({subjects})")


def main():
    for tool in (HELM, KUBECTL):
        if not os.access(tool, os.X_OK):
            raise SystemExit(f"FAIL: {tool} is missing: run scripts/setup")

    lint = run(HELM, "lint", CHART, "--set", "clusterName=cluster1", check_rc=False)
    check(lint.returncode == 0 and "0 chart(s) failed" in lint.stdout, "helm lint passes")
    check_chart_options()

    helm_objs = docs(run(HELM, "template", "meshcluster", CHART, "-n", NS, "--include-crds",
                         "--set", "clusterName=cluster1").stdout)
    kust_objs = docs(run(KUBECTL, "kustomize", BASE).stdout)
    helm_by = {key(o): strip_helm(o) for o in helm_objs}
    kust_by = {key(o): o for o in kust_objs if o["kind"] != "Namespace"}
    check(set(helm_by) == set(kust_by),
          f"helm and kustomize render the same objects (only helm: {sorted(set(helm_by) - set(kust_by))},"
          f" only kustomize: {sorted(set(kust_by) - set(helm_by))})")
    for k in sorted(set(helm_by) & set(kust_by)):
        check(helm_by[k] == kust_by[k], f"{k} is the same in helm and kustomize")

    kinds = {}
    for o in kust_objs:
        kinds.setdefault(o["kind"], []).append(o)
    check(any(o["metadata"]["name"] == "meshclusters.meshcluster.io"
              for o in kinds.get("CustomResourceDefinition", [])), "the MeshCluster CRD is included")
    check_crd_descriptions(kinds.get("CustomResourceDefinition", []))

    # Least privilege.
    reader = [o for o in kinds.get("ClusterRole", []) if o["metadata"]["name"] == "meshcluster-istio-reader"]
    check(len(reader) == 1, "the peers' read-only ClusterRole meshcluster-istio-reader is shipped")
    check_istio_reader(reader[0], kinds)
    cluster_rules = [r for o in kinds.get("ClusterRole", []) if o is not reader[0]
                     for r in o["rules"] if "nonResourceURLs" not in r]
    url_rules = [(o["metadata"]["name"], r) for o in kinds.get("ClusterRole", []) for r in o["rules"]
                 if "nonResourceURLs" in r]
    check(url_rules == [("meshcluster-metrics-reader", {"nonResourceURLs": ["/metrics"], "verbs": ["get"]})],
          "the only non-resource rule is meshcluster-metrics-reader's get /metrics (%s)" % url_rules)
    allowed_cluster = {("meshcluster.io", "meshclusters"), ("meshcluster.io", "meshclusters/status"),
                       ("", "events"), ("", "namespaces")}
    for r in cluster_rules:
        for g in r["apiGroups"]:
            for res in r["resources"]:
                check((g, res) in allowed_cluster, f"cluster-wide rule {g or 'core'}/{res} is needed")
                if res == "namespaces":
                    check(r.get("resourceNames") == ["istio-system"] and set(r["verbs"]) <= {"get", "list", "watch", "patch"},
                          "namespaces: only read and patch istio-system")
        check("*" not in r["verbs"] and "*" not in r["resources"], "no wildcards in cluster rules")
    for o in kinds.get("Role", []):
        ns = o["metadata"]["namespace"]
        res = {x for r in o["rules"] for x in r["resources"]}
        allowed = {"istio-system": {"services", "secrets", "configmaps", "gateways"},
                   "tailscale": {"services", "secrets"}, NS: {"leases"}}.get(ns, set())
        check(res <= allowed, f"Role in {ns} grants only {sorted(allowed)} (has {sorted(res)})")
        if ns == "tailscale":  # token Secrets (issue 14.6): read-only, list and watch
            verbs = {v for r in o["rules"] if "secrets" in r["resources"] for v in r["verbs"]}
            check(verbs == {"list", "watch"}, f"tailscale secrets: list and watch only (has {sorted(verbs)})")
        # The daemon writes by server-side apply (PATCH) and never PUTs, except its Lease
        # (leader election updates with the Lease's resourceVersion): no other rule may grant
        # update, nor read the status subresource it only patches.
        for r in o["rules"]:
            if r["resources"] != ["leases"]:
                check("update" not in r["verbs"], f"Role in {ns}: {r['resources']} without update")
    for r in cluster_rules:
        check("update" not in r["verbs"], f"cluster rule {r['resources']} without update")
        if r["resources"] == ["meshclusters/status"]:
            check(r["verbs"] == ["patch"], "meshclusters/status: patch only")
    check({o["metadata"]["namespace"] for o in kinds.get("Role", [])} == {"istio-system", "tailscale", NS},
          "Roles exist only in istio-system, tailscale and the controller's namespace")

    # Restricted Pod Security profile and probes.
    dep = kinds["Deployment"][0]
    check(dep["spec"]["replicas"] == 2, "two replicas")
    pod = dep["spec"]["template"]["spec"]
    check(pod["securityContext"].get("runAsNonRoot") is True, "pod runAsNonRoot")
    check(pod["securityContext"].get("seccompProfile", {}).get("type") == "RuntimeDefault", "seccomp RuntimeDefault")
    c = pod["containers"][0]
    sc = c["securityContext"]
    check(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation false")
    check(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
    check(sc.get("capabilities", {}).get("drop") == ["ALL"], "drop ALL capabilities")
    check(c["livenessProbe"]["httpGet"]["path"] == "/healthz", "liveness probe on /healthz")
    check(c["readinessProbe"]["httpGet"]["path"] == "/readyz", "readiness probe on /readyz")
    check("requests" in c["resources"], "resource requests set")
    check(bool(kinds.get("PodDisruptionBudget")), "a PodDisruptionBudget")

    # Install with real helm and kubectl into the test API server.
    if not os.environ.get("KUBECONFIG"):
        raise SystemExit("FAIL: run under tests/support/with-apiserver")
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as home:
        env.update(HELM_CACHE_HOME=home + "/c", HELM_CONFIG_HOME=home + "/f", HELM_DATA_HOME=home + "/d")
        for ns in ("istio-system", "tailscale"):
            run(KUBECTL, "create", "namespace", ns, env=env, check_rc=False)
        # No kubelet runs pods here, so --wait (which waits for ready replicas) is not used.
        run(HELM, "install", "meshcluster", CHART, "-n", NS, "--create-namespace",
            "--set", "clusterName=cluster1", env=env)
        got = run(KUBECTL, "get", "deployment,serviceaccount,role,rolebinding", "-n", NS, "-o", "name",
                  env=env).stdout.split()
        check("deployment.apps/meshcluster-controller" in got, "helm installed the Deployment")
        crd = run(KUBECTL, "get", "crd", "meshclusters.meshcluster.io", "-o", "json", env=env, check_rc=False)
        check(crd.returncode == 0, "helm installed the CRD")
        run(HELM, "uninstall", "meshcluster", "-n", NS, env=env)
        gone = run(KUBECTL, "get", "deployment", "meshcluster-controller", "-n", NS, env=env, check_rc=False)
        check(gone.returncode != 0 and "NotFound" in gone.stderr, "helm uninstall removed the Deployment")

        run(KUBECTL, "apply", "-k", BASE, env=env)
        roles = run(KUBECTL, "get", "role", "meshcluster-controller", "-n", "tailscale", "-o", "json", env=env)
        check(json.loads(roles.stdout)["rules"][0]["resources"] == ["services"],
              "kubectl apply -k installed the tailscale Role as written")
        run(KUBECTL, "delete", "-k", BASE, "--wait=true", env=env)
        left = run(KUBECTL, "get", "clusterrole", "meshcluster-controller", env=env, check_rc=False)
        check(left.returncode != 0, "kubectl delete -k removed the ClusterRole")

    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
