"""Differential suite: the same scripted request sequences against a real kube-apiserver and
against kube-apiserver-lite, comparing what a client sees of each step: status code, reason,
and the causes' (field, reason) pairs, with resourceVersions, uids, times and messages left
out. Prints each scenario's verdict and the figure "differential: M/N scenarios matching".

It fails only when a scenario listed in MATCHING stops matching (the lite server drifted from
the real one) or a scenario cannot run; a scenario that newly matches is reported so it can be
added to MATCHING. Each DIFFERS line shows both servers' answers; tests/apiserver/README.md
lists the lite server's remaining differences and the real-server tests that cover them
(reconciler_e2e_http2, real_cluster_updown for CEL, the e2e on real for RBAC).
Watch steps read a watch that ends by itself (timeoutSeconds) and compare its events with
resourceVersions named after the steps that saved them. A forced 410 needs an etcd
compaction on the real side (the fault proxy's), so it is not a scenario here."""
import base64
import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get("MC_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "apiserver"))
import harness  # noqa: E402

CRD = os.path.join(REPO, "deploy", "crds", "meshcluster.yaml")
MC = "/apis/meshcluster.io/v1alpha1/meshclusters"
CM = "/api/v1/namespaces/default/configmaps"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
SVC = "/api/v1/namespaces/default/services"
APPLY = "application/apply-patch+yaml"

# Scenarios that matched when this list was last updated: each must keep matching.
MATCHING = {
    "already-exists", "annotations-over-256kib", "apply-missing-kind", "apply-without-field-manager",
    "apply-wrong-apiversion", "apply-wrong-kind", "body-over-3mib", "cel-rule", "cel-rule-defaulted-ports",
    "cel-rule-on-update", "cel-rule-spec-level", "configmap-immutable", "configmap-no-generation",
    "configmap-over-1mib", "crd-generation-status", "crd-metadata-keeps-generation", "crd-put-without-rv",
    "crd-status-ignored-on-main", "crd-strict-apply-unknown", "create-get-delete", "date-time-format",
    "delete-foreground-owner", "delete-precondition", "deletecollection", "dry-run-create", "event-bad-time",
    "event-namespace-mismatch", "events-k8s-io", "field-selector-unsupported", "finalizer-delete",
    "generate-name", "gzip", "impersonation", "json-patch-test-fails", "label-key-syntax",
    "label-selector-bad", "lease-bad-microtime", "lease-negative-duration", "lease-put-missing",
    "lease-put-without-rv", "list-bad-continue", "list-continue-pages", "list-limit-continue",
    "list-limit-rv0", "list-resource-version-match", "list-too-new", "managed-fields-reset",
    "namespace-bad-name", "namespace-missing", "namespace-termination", "noop-update-keeps-rv",
    "not-acceptable-406", "not-found", "patch-stale-rv", "role-bad-rule", "secret-over-1mib",
    "secret-string-data", "secret-type-immutable", "service-clusterip-immutable",
    "service-clusterip-out-of-range", "service-clusterip-taken", "service-nodeport-taken",
    "service-port-name-syntax", "service-type-change", "ssa-conflict", "ssa-force", "ssa-list-map-conflict",
    "ssa-list-map-duplicate-key", "ssa-list-map-merge", "ssa-missing-key", "ssa-status-subresource",
    "stale-update-409", "strategic-merge-on-crd", "strict-unknown-field", "structural-enum",
    "subjectaccessreview", "update-name-mismatch", "update-with-current-rv", "watch-bad-resource-version",
    "watch-bookmark-before-timeout", "watch-from-long-ago", "watch-initial-events",
    "watch-initial-events-empty", "watch-initial-events-needs-bookmarks", "watch-initial-events-needs-match",
    "watch-named-object", "watch-resume", "watch-rv0-initial-added", "watch-selector-enter",
    "watch-selector-leave", "watch-too-new",
}


def mc(name, spec):
    return {"apiVersion": "meshcluster.io/v1alpha1", "kind": "MeshCluster", "metadata": {"name": name},
            "spec": spec}


def cm(name, data=None, annotations=None, labels=None):
    md = {"name": name}
    if annotations:
        md["annotations"] = annotations
    if labels:
        md["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": data or {}}


def svc(name, ports, **spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": dict(spec, ports=ports)}


def lease(name, **spec):
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name}, "spec": spec}


def step(method, path, body=None, ctype="application/json", headers=None, look=None, show_headers=(),
         save=None):
    """One request; `look` picks fields of a successful response to compare (a function),
    show_headers names response headers to compare, `save` names the answer's resourceVersion
    so that later paths can say {name} and later answers show it as $name."""
    return {"method": method, "path": path, "body": body, "ctype": ctype, "headers": headers, "look": look,
            "show_headers": show_headers, "save": save}


def watch(path, look=None):
    """A watch that ends by itself (the path carries timeoutSeconds): compares the events'
    types, names, `look` of each object, and resourceVersions as saved names."""
    return {"watch": path, "look": look}


def kubectl(*args, input=None):
    """kubectl 1.34 against the server; compares its exit code."""
    return {"kubectl": args, "input": input}


def pause(seconds):
    """Lets controllers (namespace lifecycle, garbage collector) catch up."""
    return {"pause": seconds}


def generation(obj):
    md = (obj or {}).get("metadata") or {}
    return md.get("generation")


SCENARIOS = {
    # Plain API machinery both should agree on.
    "create-get-delete": [step("POST", CM, cm("a", {"k": "v"})), step("GET", CM + "/a"),
                          step("DELETE", CM + "/a"), step("GET", CM + "/a")],
    "already-exists": [step("POST", CM, cm("dup")), step("POST", CM, cm("dup"))],
    "not-found": [step("GET", CM + "/nope"), step("DELETE", CM + "/nope")],
    "stale-update-409": [step("POST", CM, cm("s")), step("PUT", CM + "/s", dict(
        cm("s", {"x": "1"}), metadata={"name": "s", "resourceVersion": "1"}))],
    "ssa-conflict": [step("PATCH", CM + "/c?fieldManager=one", json.dumps(cm("c", {"k": "1"})), APPLY),
                     step("PATCH", CM + "/c?fieldManager=two", json.dumps(cm("c", {"k": "2"})), APPLY)],
    "ssa-force": [step("PATCH", CM + "/f?fieldManager=one", json.dumps(cm("f", {"k": "1"})), APPLY),
                  step("PATCH", CM + "/f?fieldManager=two&force=true", json.dumps(cm("f", {"k": "2"})), APPLY,
                       look=lambda o: o["data"])],
    "list-limit-continue": [step("POST", CM, cm("l1")), step("POST", CM, cm("l2")),
                            step("GET", CM + "?limit=1&labelSelector=none%3Dnone",
                                 look=lambda o: len(o["items"]))],
    "crd-generation-status": [
        step("POST", MC, mc("g", {"network": "n", "tailscale": {"tailnet": "t.ts.net"}}), look=generation),
        step("PATCH", MC + "/g/status", {"status": {"observedGeneration": 1}}, "application/merge-patch+json",
             look=generation),
        step("PATCH", MC + "/g", {"spec": {"network": "m"}}, "application/merge-patch+json", look=generation)],
    "structural-enum": [step("POST", MC, mc("e", {"tailscale": {"tailnet": "t.ts.net"},
                                                   "remoteSecret": {"auth": "password"}}))],
    # The issue's list of differences (items 2-10; 1, HTTP/2, is tested by reconciler_e2e_http2).
    "cel-rule": [step("POST", MC, mc("cel", {"tailscale": {"tailnet": "t.ts.net"},
                                              "remoteSecret": {"auth": "secret"}}))],
    "cel-rule-spec-level": [step("POST", MC, mc("celh", {"tailscale": {
        "tailnet": "t.ts.net", "apiServerProxyHostname": "same", "eastWestGatewayHostname": "same"}}))],
    "cel-rule-defaulted-ports": [step("POST", MC, mc("celp", {"tailscale": {"tailnet": "t.ts.net"},
                                                            "gateway": {"ports": {"tls": 15021}}}))],
    "cel-rule-on-update": [
        step("POST", MC, mc("celu", {"tailscale": {"tailnet": "t.ts.net"}})),
        step("PATCH", MC + "/celu", {"spec": {"remoteSecret": {"auth": "secret"}}}, "application/merge-patch+json"),
        step("PATCH", MC + "/celu/status", {"status": {"observedGeneration": 1}}, "application/merge-patch+json")],
    "date-time-format": [
        step("POST", MC, mc("dt", {"tailscale": {"tailnet": "t.ts.net"}})),
        step("PATCH", MC + "/dt/status", {"status": {"conditions": [{
            "type": "Ready", "status": "True", "reason": "R", "message": "",
            "lastTransitionTime": "yesterday"}]}}, "application/merge-patch+json")],
    "lease-put-without-rv": [step("POST", LEASES, lease("l", holderIdentity="a")),
                             step("PUT", LEASES + "/l", lease("l", holderIdentity="b"))],
    "lease-put-missing": [step("PUT", LEASES + "/missing", lease("missing", holderIdentity="a"))],
    "lease-bad-microtime": [step("POST", LEASES, lease("t", holderIdentity="a", renewTime="soon"))],
    "configmap-over-1mib": [step("POST", CM, cm("big", {"k": "x" * (1024 * 1024 + 1)}))],
    "annotations-over-256kib": [step("POST", CM, cm("ann", annotations={"a": "x" * (256 * 1024 + 1)}))],
    "body-over-3mib": [step("POST", CM, cm("huge", {"k%d" % i: "x" * (512 * 1024) for i in range(7)}))],
    "apply-wrong-kind": [step("PATCH", CM + "/wk?fieldManager=t",
                              json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "wk"}}),
                              APPLY)],
    "label-key-syntax": [step("POST", CM, cm("lk", labels={"bad key!": "v"}))],
    "event-namespace-mismatch": [step("POST", "/api/v1/namespaces/default/events", {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "ev", "namespace": "default"},
        "involvedObject": {"kind": "ConfigMap", "name": "x", "namespace": "kube-system"},
        "reason": "R", "message": "m", "type": "Normal"})],
    "service-port-name-syntax": [step("POST", "/api/v1/namespaces/default/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "pn"},
        "spec": {"ports": [{"name": "Bad_Name", "port": 80}]}})],
    "service-clusterip-out-of-range": [step("POST", "/api/v1/namespaces/default/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "ip"},
        "spec": {"clusterIP": "192.0.2.10", "ports": [{"port": 80}]}})],
    "openapi-v2": [step("GET", "/openapi/v2")],
    # kubectl validates a List's items with the OpenAPI v2 document (gnostic protobuf)
    "kubectl-apply-list": [kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "List", "items": [cm("li1", {"a": "b"})]}))],
    "not-acceptable-406": [step("GET", CM, headers={"Accept": "application/xml"})],
    "impersonation": [step("GET", CM, headers={"Impersonate-User": "nobody"})],
    "subjectaccessreview": [step("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": "nobody", "resourceAttributes": {"verb": "get", "resource": "configmaps"}}},
        look=lambda o: o["status"].get("allowed"))],
    # Watches: resume, 410, too-new, bookmarks, sendInitialEvents, selector transitions.
    "watch-resume": [step("POST", CM, cm("w1", {"k": "1"}), save="a"),
                     step("PUT", CM + "/w1", cm("w1", {"k": "2"}), save="b"),
                     step("DELETE", CM + "/w1", save="c"),
                     watch(CM + "?watch=1&resourceVersion={a}&timeoutSeconds=1&fieldSelector=metadata.name%3Dw1",
                           look=lambda o: o.get("data"))],
    # Etcd keeps every revision until it compacts (every 5 min): a resume from long ago replays
    # the history; a forced 410 needs a compaction (the fault proxy's).
    "watch-from-long-ago": [step("POST", CM, cm("wo", {"k": "1"})), step("DELETE", CM + "/wo"),
                            watch(CM + "?watch=1&resourceVersion=2&timeoutSeconds=1&fieldSelector=metadata.name%3Dwo")],
    "watch-too-new": [watch(CM + "?watch=1&resourceVersion=999999999&timeoutSeconds=5")],
    "watch-bad-resource-version": [watch(CM + "?watch=1&resourceVersion=abc&timeoutSeconds=1")],
    "watch-initial-events": [
        step("POST", CM, cm("ie1", labels={"ie": "x"})), step("POST", CM, cm("ie2", labels={"ie": "x"}), save="b"),
        watch(CM + "?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
              "&timeoutSeconds=1&labelSelector=ie%3Dx")],
    "watch-initial-events-needs-bookmarks": [
        step("POST", CM, cm("nb1", labels={"nb": "x"})),
        watch(CM + "?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1"
              "&labelSelector=nb%3Dx")],
    "watch-initial-events-needs-match": [
        watch(CM + "?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&timeoutSeconds=1")],
    "watch-selector-leave": [
        step("POST", CM, cm("sl", {"k": "1"}, labels={"sel": "in"}), save="a"),
        step("PUT", CM + "/sl", cm("sl", {"k": "2"}, labels={"sel": "out"}), save="b"),
        watch(CM + "?watch=1&resourceVersion={a}&timeoutSeconds=1&labelSelector=sel%3Din",
              look=lambda o: [o["metadata"].get("labels"), o.get("data")])],
    "watch-selector-enter": [
        step("POST", CM, cm("se", {"k": "1"}, labels={"sel2": "out"}), save="a"),
        step("PUT", CM + "/se", cm("se", {"k": "2"}, labels={"sel2": "in"}), save="b"),
        watch(CM + "?watch=1&resourceVersion={a}&timeoutSeconds=1&labelSelector=sel2%3Din",
              look=lambda o: [o["metadata"].get("labels"), o.get("data")])],
    # Optimistic concurrency.
    "update-with-current-rv": [step("POST", CM, cm("oc", {"k": "1"}), save="a"),
                               step("PUT", CM + "/oc", dict(cm("oc", {"k": "2"}), metadata={
                                   "name": "oc", "resourceVersion": "{a}"}), save="b"),
                               step("PUT", CM + "/oc", dict(cm("oc", {"k": "3"}), metadata={
                                   "name": "oc", "resourceVersion": "{a}"}))],
    "patch-stale-rv": [step("POST", CM, cm("pr", {"k": "1"}), save="a"),
                       step("PATCH", CM + "/pr", {"data": {"k": "2"}}, "application/merge-patch+json", save="b"),
                       step("PATCH", CM + "/pr", '{"metadata":{"resourceVersion":"{a}"},"data":{"k":"3"}}',
                            "application/merge-patch+json")],
    "delete-precondition": [step("POST", CM, cm("dp"), save="a"),
                            step("PATCH", CM + "/dp", {"data": {"k": "2"}}, "application/merge-patch+json"),
                            step("DELETE", CM + "/dp", {"apiVersion": "v1", "kind": "DeleteOptions",
                                                        "preconditions": {"resourceVersion": "{a}"}}),
                            step("DELETE", CM + "/dp", {"apiVersion": "v1", "kind": "DeleteOptions",
                                                        "preconditions": {"uid": "not-the-uid"}})],
    "noop-update-keeps-rv": [step("PATCH", CM + "/nu?fieldManager=m", json.dumps(cm("nu", {"k": "1"})), APPLY,
                                  save="a"),
                             step("PATCH", CM + "/nu?fieldManager=m", json.dumps(cm("nu", {"k": "1"})), APPLY,
                                  save="b")],
    # Server-side apply: list-map keys and conflicts inside them.
    "ssa-list-map-merge": [
        step("PATCH", SVC + "/lm?fieldManager=one", json.dumps(svc("lm", [{"name": "a", "port": 80}])), APPLY),
        step("PATCH", SVC + "/lm?fieldManager=two", json.dumps(svc("lm", [{"name": "b", "port": 81}])), APPLY,
             look=lambda o: sorted(p["port"] for p in o["spec"]["ports"]))],
    "ssa-list-map-conflict": [
        step("PATCH", SVC + "/lc?fieldManager=one", json.dumps(svc("lc", [{"port": 80, "targetPort": 8080}])),
             APPLY),
        step("PATCH", SVC + "/lc?fieldManager=two", json.dumps(svc("lc", [{"port": 80, "targetPort": 9090}])),
             APPLY)],
    "ssa-list-map-duplicate-key": [
        step("PATCH", SVC + "/ld?fieldManager=one", json.dumps(svc("ld", [{"name": "a", "port": 80},
                                                                           {"name": "b", "port": 80}])), APPLY)],
    "ssa-missing-key": [
        step("PATCH", SVC + "/lk?fieldManager=one", json.dumps(svc("lk", [{"name": "a"}])), APPLY)],
    "apply-wrong-apiversion": [step("PATCH", CM + "/wv?fieldManager=t", json.dumps(
        {"apiVersion": "v2", "kind": "ConfigMap", "metadata": {"name": "wv"}}), APPLY)],
    "apply-missing-kind": [step("PATCH", CM + "/mk?fieldManager=t", json.dumps(
        {"apiVersion": "v1", "metadata": {"name": "mk"}}), APPLY)],
    "apply-without-field-manager": [step("PATCH", CM + "/nf", json.dumps(cm("nf")), APPLY)],
    "managed-fields-reset": [
        step("PATCH", CM + "/mr?fieldManager=m", json.dumps(cm("mr", {"k": "1"})), APPLY,
             look=lambda o: len(o["metadata"].get("managedFields") or [])),
        step("PATCH", CM + "/mr", {"metadata": {"managedFields": [{}]}}, "application/merge-patch+json",
             look=lambda o: len(o["metadata"].get("managedFields") or []))],
    # Generation and status rules.
    "crd-status-ignored-on-main": [
        step("POST", MC, mc("sm", {"network": "n", "tailscale": {"tailnet": "t.ts.net"}})),
        step("PATCH", MC + "/sm", {"status": {"observedGeneration": 7}}, "application/merge-patch+json",
             look=lambda o: [generation(o), o.get("status")]),
        step("PATCH", MC + "/sm/status", {"spec": {"network": "x"}, "status": {"observedGeneration": 1}},
             "application/merge-patch+json", look=lambda o: [generation(o), o["spec"]["network"],
                                                             o.get("status")])],
    "crd-metadata-keeps-generation": [
        step("POST", MC, mc("mg", {"network": "n", "tailscale": {"tailnet": "t.ts.net"}})),
        step("PATCH", MC + "/mg", {"metadata": {"labels": {"a": "b"}}}, "application/merge-patch+json",
             look=generation)],
    "configmap-no-generation": [step("POST", CM, cm("ng"), look=generation)],
    # Namespace termination.
    "namespace-termination": [
        step("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "term"}},
             look=lambda o: o["status"].get("phase")),
        step("POST", "/api/v1/namespaces/term/configmaps", cm("x")),
        step("DELETE", "/api/v1/namespaces/term", look=lambda o: [o["status"].get("phase"),
                                                                  o["spec"].get("finalizers")]),
        pause(0.1),  # the lite server empties the namespace after 0.5 s, the real one later
        step("POST", "/api/v1/namespaces/term/configmaps", cm("y")),
        step("POST", "/api/v1/namespaces/missing/configmaps", cm("z"))],
    # More of item 9 and 10.
    "service-clusterip-taken": [
        step("POST", SVC, svc("ip1", [{"port": 80}], clusterIP="10.96.100.100")),
        step("POST", SVC, svc("ip2", [{"port": 80}], clusterIP="10.96.100.100"))],
    "secret-over-1mib": [step("POST", "/api/v1/namespaces/default/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bigs"},
        "data": {"k": base64.b64encode(b"x" * (1024 * 1024 + 1)).decode()}})],
    "event-bad-time": [step("POST", "/api/v1/namespaces/default/events", {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "evt"},
        "involvedObject": {"kind": "ConfigMap", "name": "x", "namespace": "default"},
        "reason": "R", "message": "m", "type": "Normal", "firstTimestamp": "yesterday"})],
    "watch-bookmark-before-timeout": [
        step("POST", CM, cm("bm", labels={"bm": "x"}), save="a"),
        watch(CM + "?watch=1&allowWatchBookmarks=true&timeoutSeconds=4&labelSelector=bm%3Dx&resourceVersion={a}")],
    "watch-initial-events-empty": [
        watch(CM + "?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
              "&timeoutSeconds=1&labelSelector=nothing%3Dhere")],
    "list-resource-version-match": [
        step("GET", CM + "?resourceVersionMatch=NotOlderThan"),
        step("GET", CM + "?resourceVersionMatch=Exact&resourceVersion=0"),
        step("GET", CM + "?resourceVersionMatch=Bogus&resourceVersion=1")],
    "list-too-new": [step("GET", CM + "?resourceVersion=999999999"),
                     step("GET", CM + "?resourceVersion=999999999&resourceVersionMatch=NotOlderThan")],
    "list-bad-continue": [step("GET", CM + "?limit=1&continue=garbage")],
    "field-selector-unsupported": [step("GET", CM + "?fieldSelector=data.k%3Dv")],
    "label-selector-bad": [step("GET", CM + "?labelSelector=a%3D%3D%3Db")],
    "strict-unknown-field": [step("POST", CM + "?fieldValidation=Strict", dict(cm("su"), bogus=1)),
                             step("POST", CM + "?fieldValidation=Warn", dict(cm("sw"), bogus=1),
                                  show_headers=("Warning",))],
    "dry-run-create": [step("POST", CM + "?dryRun=All", cm("dr")), step("GET", CM + "/dr")],
    "generate-name": [step("POST", CM, {"apiVersion": "v1", "kind": "ConfigMap",
                                        "metadata": {"generateName": "gen-"}},
                           look=lambda o: o["metadata"]["name"][:4])],
    "finalizer-delete": [
        step("POST", CM, dict(cm("fin"), metadata={"name": "fin", "finalizers": ["example.com/hold"]})),
        step("DELETE", CM + "/fin", look=lambda o: [bool(o["metadata"].get("deletionTimestamp")),
                                                    o["metadata"].get("finalizers")]),
        step("PATCH", CM + "/fin", {"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}},
             "application/merge-patch+json"),
        step("PATCH", CM + "/fin", {"metadata": {"finalizers": None}}, "application/merge-patch+json"),
        step("GET", CM + "/fin")],
    "deletecollection": [step("POST", CM, cm("dc1", labels={"dc": "x"})),
                         step("POST", CM, cm("dc2", labels={"dc": "x"})),
                         step("DELETE", CM + "?labelSelector=dc%3Dx", look=lambda o: o.get("kind")),
                         step("GET", CM + "?labelSelector=dc%3Dx", look=lambda o: len(o["items"]))],
    "ssa-status-subresource": [
        step("POST", MC, mc("ss", {"network": "n", "tailscale": {"tailnet": "t.ts.net"}})),
        step("PATCH", MC + "/ss/status?fieldManager=st", json.dumps({
            "apiVersion": "meshcluster.io/v1alpha1", "kind": "MeshCluster", "metadata": {"name": "ss"},
            "status": {"observedGeneration": 1}}), APPLY,
             look=lambda o: [generation(o), o.get("status"),
                             sorted((e["manager"], e.get("subresource", "")) for e in o["metadata"]["managedFields"])])],
    "crd-strict-apply-unknown": [step("PATCH", MC + "/su?fieldManager=m&fieldValidation=Strict", json.dumps(
        mc("su", {"network": "n", "tailscale": {"tailnet": "t.ts.net"}, "bogus": 1})), APPLY)],
    "json-patch-test-fails": [step("POST", CM, cm("jp", {"k": "1"})),
                              step("PATCH", CM + "/jp", [{"op": "test", "path": "/data/k", "value": "2"}],
                                   "application/json-patch+json")],
    "strategic-merge-on-crd": [step("POST", MC, mc("sp", {"network": "n", "tailscale": {"tailnet": "t.ts.net"}})),
                               step("PATCH", MC + "/sp", {"spec": {"network": "m"}},
                                    "application/strategic-merge-patch+json")],
    "update-name-mismatch": [step("POST", CM, cm("nm")), step("PUT", CM + "/nm", cm("other"))],
    "namespace-missing": [step("POST", "/api/v1/namespaces/nowhere/configmaps", cm("x"))],
    "secret-string-data": [step("POST", "/api/v1/namespaces/default/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sd"}, "stringData": {"a": "b"}},
        look=lambda o: [o.get("data"), o.get("stringData"), o.get("type")])],
    "lease-negative-duration": [step("POST", LEASES, lease("neg", holderIdentity="a", leaseDurationSeconds=-1))],
    "list-limit-rv0": [step("POST", CM, cm("r0a", labels={"r0": "x"})), step("POST", CM, cm("r0b", labels={"r0": "x"})),
                       step("GET", CM + "?limit=1&resourceVersion=0&labelSelector=r0%3Dx",
                            look=lambda o: [len(o["items"]), bool(o["metadata"].get("continue"))])],
    "list-continue-pages": [
        step("POST", CM, cm("pg1", labels={"pg": "x"})), step("POST", CM, cm("pg2", labels={"pg": "x"})),
        step("POST", CM, cm("pg3", labels={"pg": "x"})),
        step("GET", CM + "?limit=2&labelSelector=pg%3Dx",
             look=lambda o: [[i["metadata"]["name"] for i in o["items"]], o["metadata"].get("remainingItemCount")])],
    "watch-rv0-initial-added": [
        step("POST", CM, cm("z1", labels={"z": "x"})),
        watch(CM + "?watch=1&resourceVersion=0&timeoutSeconds=1&labelSelector=z%3Dx")],
    "watch-named-object": [
        step("POST", CM, cm("wn", {"k": "1"}), save="a"), step("POST", CM, cm("wn2"), save="b"),
        step("PATCH", CM + "/wn", {"data": {"k": "2"}}, "application/merge-patch+json", save="c"),
        watch(CM + "?watch=1&resourceVersion={a}&timeoutSeconds=1&fieldSelector=metadata.name%3Dwn",
              look=lambda o: o.get("data"))],
    "configmap-immutable": [
        step("POST", CM, dict(cm("im", {"k": "1"}), immutable=True)),
        step("PATCH", CM + "/im", {"data": {"k": "2"}}, "application/merge-patch+json"),
        step("PATCH", CM + "/im", {"immutable": False}, "application/merge-patch+json")],
    "secret-type-immutable": [
        step("POST", "/api/v1/namespaces/default/secrets", {"apiVersion": "v1", "kind": "Secret",
                                                            "metadata": {"name": "st"}, "type": "Opaque"}),
        step("PATCH", "/api/v1/namespaces/default/secrets/st", {"type": "kubernetes.io/tls"},
             "application/merge-patch+json")],
    "service-nodeport-taken": [
        step("POST", SVC, svc("np1", [{"port": 80, "nodePort": 30123}], type="NodePort")),
        step("POST", SVC, svc("np2", [{"port": 80, "nodePort": 30123}], type="NodePort")),
        step("POST", SVC, svc("np3", [{"port": 80, "nodePort": 20000}], type="NodePort"))],
    "service-type-change": [
        step("POST", SVC, svc("tc", [{"port": 80}])),
        step("PATCH", SVC + "/tc", {"spec": {"type": "ExternalName", "externalName": "x.example.com"}},
             "application/merge-patch+json", look=lambda o: [o["spec"].get("clusterIP"), o["spec"].get("type")]),
        step("PATCH", SVC + "/tc", {"spec": {"clusterIP": "10.96.1.1"}}, "application/merge-patch+json")],
    "service-clusterip-immutable": [
        step("POST", SVC, svc("ci", [{"port": 80}], clusterIP="10.96.2.2")),
        step("PATCH", SVC + "/ci", {"spec": {"clusterIP": "10.96.2.3", "clusterIPs": ["10.96.2.3"]}},
             "application/merge-patch+json")],
    "events-k8s-io": [step("POST", "/apis/events.k8s.io/v1/namespaces/default/events", {
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e1"},
        "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "x.io/c", "reportingInstance": "i",
        "action": "Do", "reason": "R", "type": "Normal", "regarding": {"kind": "ConfigMap", "name": "x",
                                                                      "namespace": "default"}}),
        step("POST", "/apis/events.k8s.io/v1/namespaces/default/events", {
            "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e2"},
            "reason": "R", "type": "Normal"})],
    "role-bad-rule": [step("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"]}]})],
    "namespace-bad-name": [step("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                               "metadata": {"name": "Bad.Name"}})],
    "delete-foreground-owner": [
        step("POST", CM, cm("own")),
        step("DELETE", CM + "/own?propagationPolicy=Foreground",
             look=lambda o: [bool(o["metadata"].get("deletionTimestamp")), o["metadata"].get("finalizers")])],
    "crd-put-without-rv": [
        step("POST", MC, mc("pw", {"tailscale": {"tailnet": "t.ts.net"}})),
        step("PUT", MC + "/pw", mc("pw", {"tailscale": {"tailnet": "u.ts.net"}}))],
    "gzip": [step("POST", CM, cm("gz", {"k": "x" * (200 * 1024)})),
             step("GET", CM, headers={"Accept-Encoding": "gzip"}, show_headers=("Content-Encoding",))],
}


def fill(value, saved):
    """value with each {name} of a saved resourceVersion replaced by it (in paths and bodies)."""
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: saved.get(m.group(1), m.group(0)), value)
    if isinstance(value, dict):
        return {k: fill(v, saved) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, saved) for v in value]
    return value


def rv_of(obj):
    md = (obj or {}).get("metadata") if isinstance(obj, dict) else None
    return (md or {}).get("resourceVersion")


def rv_name(saved, rv):
    """A resourceVersion as the name it was saved under; "new" if none was saved for it."""
    for k, v in saved.items():
        if v == rv:
            return "$" + k
    return "new" if rv else None


def status_sig(obj):
    causes = (obj.get("details") or {}).get("causes") or []
    return {"reason": obj.get("reason"), "code": obj.get("code"),
            "causes": sorted({(c.get("field"), c.get("reason")) for c in causes})}


def watch_events(server, path):
    c = server.conn(timeout=30)
    c.request("GET", path, headers={"Authorization": "Bearer %s" % server.token, "Accept": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        data = r.read()
        c.close()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data.decode(errors="replace")
    events = []
    try:
        while True:
            line = r.readline()
            if not line:
                break
            events.append(json.loads(line))
    finally:
        c.close()
    return 200, events


def watch_outcome(server, st, saved):
    code, events = watch_events(server, fill(st["watch"], saved))
    sig = {"code": code}
    if code != 200:
        if isinstance(events, dict) and events.get("kind") == "Status":
            sig.update(status_sig(events))
        return sig
    out = []
    for ev in events:
        obj = ev.get("object") or {}
        if ev.get("type") == "ERROR":
            out.append(("ERROR", status_sig(obj)))
            continue
        md = obj.get("metadata") or {}
        item = [ev.get("type"), md.get("name"), rv_name(saved, md.get("resourceVersion"))]
        if ev.get("type") == "BOOKMARK":
            item.append(sorted((md.get("annotations") or {}).items()))
        elif st["look"]:
            item.append(st["look"](obj))
        out.append(tuple(item))
    sig["events"] = out
    return sig


def outcome(server, st, saved):
    if "pause" in st:
        time.sleep(st["pause"])
        return {"pause": st["pause"]}
    if "watch" in st:
        return watch_outcome(server, st, saved)
    if "kubectl" in st:
        p = server.kubectl("1.34", *st["kubectl"], input=st["input"], check=False)
        return {"kubectl": p.returncode}
    code, headers, obj = server.request(st["method"], fill(st["path"], saved), body=fill(st["body"], saved),
                                        ctype=st["ctype"], headers=st["headers"])
    sig = {"code": code}
    if st["show_headers"]:
        sig["headers"] = {h: headers.get(h) for h in st["show_headers"]}
    if isinstance(obj, dict) and obj.get("kind") == "Status":
        sig.update(status_sig(obj))
        sig["code"] = code
    elif st["look"] and 200 <= code < 300:
        try:
            sig["look"] = st["look"](obj)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            sig["look"] = "unreadable: %s" % type(e).__name__
    if st["save"] and 200 <= code < 300:
        sig["rv"] = rv_name(saved, rv_of(obj))
        saved[st["save"]] = rv_of(obj)
    return sig


def run(server, steps):
    saved = {}
    return [outcome(server, st, saved) for st in steps]


def prepare(server):
    server.kubectl("1.34", "apply", "-f", CRD)
    server.kubectl("1.34", "wait", "--for=condition=Established", "crd/meshclusters.meshcluster.io",
                   "--timeout=60s")


def main():
    results = {}
    with harness.Server(real=True) as real, harness.Server() as lite:
        for s in (real, lite):
            prepare(s)
        for name, steps in SCENARIOS.items():
            got = {}
            for label, s in (("real", real), ("lite", lite)):
                got[label] = run(s, steps)
            results[name] = got
    matching = sorted(n for n, g in results.items() if g["real"] == g["lite"])
    for name, g in results.items():
        if g["real"] == g["lite"]:
            print("match    %s" % name)
        else:
            print("DIFFERS  %s\n   real: %s\n   lite: %s" % (name, g["real"], g["lite"]))
    print("differential: %d/%d scenarios matching" % (len(matching), len(results)))
    out = os.environ.get("MC_BUILD_DIR")
    if out and os.path.isdir(out):
        with open(os.path.join(out, "differential.txt"), "w") as f:
            f.write("differential: %d/%d scenarios matching\n" % (len(matching), len(results)))
    lost = sorted(MATCHING - set(matching))
    new = sorted(set(matching) - MATCHING)
    if new:
        print("now matching too (add to MATCHING): %s" % ", ".join(new))
    if lost:
        print("FAIL: no longer matching: %s" % ", ".join(lost))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
