#!/usr/bin/python3
"""Turns the RBAC manifests (ClusterRole/ClusterRoleBinding/Role/RoleBinding) into the
kube-apiserver-lite `--tokens-file` allow-list for one ServiceAccount, so the test server grants
a token exactly what the manifests grant that account and nothing more.

    rbac_allowlist.py --rbac deploy/kustomize/base/rbac.yaml --token T [--out FILE]
        [--service-account meshcluster-system:meshcluster-controller]

Rules from a ClusterRoleBinding apply cluster-wide (no `namespaces` key); rules reached through
a RoleBinding (to a Role or a ClusterRole) are limited to the binding's namespace, which the
server also refuses for cluster-wide requests, as RBAC does. The admin token is the server's
`--token` and is not in this file."""
import argparse
import json
import sys

import yaml

RBAC_GROUP = "rbac.authorization.k8s.io"


def _binds(binding, sa_ns, sa_name):
    for s in binding.get("subjects") or []:
        if s.get("kind") == "ServiceAccount" and s.get("name") == sa_name and s.get("namespace") == sa_ns:
            return True
    return False


def _copy_rule(rule, namespace):
    if rule.get("nonResourceURLs"):
        return None  # the test server's allow-list covers resource requests only
    out = {"verbs": list(rule.get("verbs") or []),
           "apiGroups": list(rule.get("apiGroups") or []),
           "resources": list(rule.get("resources") or [])}
    if rule.get("resourceNames"):
        out["resourceNames"] = list(rule["resourceNames"])
    if namespace is not None:
        out["namespaces"] = [namespace]
    return out


def allow_rules(docs, sa_ns, sa_name):
    """The allow-list rules the manifests grant ServiceAccount sa_ns/sa_name."""
    cluster_roles, roles = {}, {}
    for d in docs:
        if d.get("kind") == "ClusterRole":
            cluster_roles[d["metadata"]["name"]] = d
        elif d.get("kind") == "Role":
            roles[(d["metadata"].get("namespace", "default"), d["metadata"]["name"])] = d
    rules = []
    for d in docs:
        kind = d.get("kind")
        if kind not in ("ClusterRoleBinding", "RoleBinding") or not _binds(d, sa_ns, sa_name):
            continue
        ref = d["roleRef"]
        if ref.get("apiGroup") != RBAC_GROUP:
            raise ValueError("%s %s: roleRef apiGroup %r" % (kind, d["metadata"]["name"], ref.get("apiGroup")))
        ns = None if kind == "ClusterRoleBinding" else d["metadata"].get("namespace", "default")
        if ref["kind"] == "ClusterRole":
            role = cluster_roles.get(ref["name"])
        elif ref["kind"] == "Role" and ns is not None:
            role = roles.get((ns, ref["name"]))
        else:
            raise ValueError("%s %s: cannot refer to %s" % (kind, d["metadata"]["name"], ref["kind"]))
        if role is None:
            raise ValueError("%s %s: %s %s not in the manifests" % (kind, d["metadata"]["name"],
                                                                    ref["kind"], ref["name"]))
        if role.get("aggregationRule"):
            raise ValueError("aggregated ClusterRole %s is not supported" % ref["name"])
        for r in role.get("rules") or []:
            c = _copy_rule(r, ns)
            if c is not None:
                rules.append(c)
    return rules


def load_docs(paths):
    docs = []
    for p in paths:
        with open(p) as f:
            docs += [d for d in yaml.safe_load_all(f) if d]
    return docs


def tokens_file(paths, token, sa_ns, sa_name):
    rules = allow_rules(load_docs(paths), sa_ns, sa_name)
    if not rules:
        raise ValueError("no rules bind ServiceAccount %s/%s" % (sa_ns, sa_name))
    return {token: {"user": "system:serviceaccount:%s:%s" % (sa_ns, sa_name), "allow": rules}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rbac", action="append", required=True, help="RBAC manifest (repeatable)")
    ap.add_argument("--token", required=True)
    ap.add_argument("--service-account", default="meshcluster-system:meshcluster-controller")
    ap.add_argument("--out", help="write here (default stdout)")
    a = ap.parse_args(argv)
    sa_ns, _, sa_name = a.service_account.partition(":")
    data = json.dumps(tokens_file(a.rbac, a.token, sa_ns, sa_name), indent=2, sort_keys=True) + "\n"
    if a.out:
        with open(a.out, "w") as f:
            f.write(data)
    else:
        sys.stdout.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
