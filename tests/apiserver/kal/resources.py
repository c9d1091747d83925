"""Registry of the resources the server serves: built-ins plus those CRDs define."""
import threading

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
STATUS_VERBS = ["get", "patch", "update"]


class Resource:
    def __init__(self, group, version, plural, singular, kind, namespaced, short_names=(),
                 categories=(), status=False, builtin=True, field_labels=(), crd_name=None,
                 generation=False, name_rule="subdomain", storage=True, delete_returns="status",
                 verbs=None):
        self.group = group
        self.version = version
        self.plural = plural
        self.singular = singular
        self.kind = kind
        self.namespaced = namespaced
        self.short_names = list(short_names)
        self.categories = list(categories)
        self.status = status
        self.builtin = builtin
        self.field_labels = set(field_labels) | {"metadata.name", "metadata.namespace"}
        self.crd_name = crd_name
        self.generation = generation
        self.name_rule = name_rule
        self.storage = storage
        self.delete_returns = delete_returns
        self.verbs = list(verbs or ALL_VERBS)

    @property
    def gv(self):
        return self.version if not self.group else "%s/%s" % (self.group, self.version)

    @property
    def gr(self):
        """Storage key: every version of a group-resource shares one store."""
        return (self.group, self.plural)

    @property
    def gvk(self):
        return (self.group, self.version, self.kind)


def _builtins():
    return [
        Resource("", "v1", "namespaces", "namespace", "Namespace", False, ["ns"], status=True,
                 field_labels=["status.phase"], name_rule="label", delete_returns="object"),
        Resource("", "v1", "services", "service", "Service", True, ["svc"], ["all"], status=True,
                 field_labels=["spec.clusterIP", "spec.type"], name_rule="label1035",
                 delete_returns="object"),
        Resource("", "v1", "secrets", "secret", "Secret", True, field_labels=["type"]),
        Resource("", "v1", "configmaps", "configmap", "ConfigMap", True, ["cm"]),
        Resource("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, ["sa"]),
        Resource("", "v1", "events", "event", "Event", True, ["ev"],
                 field_labels=["involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                               "involvedObject.uid", "involvedObject.apiVersion",
                               "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
                               "reportingComponent", "source", "type"]),
        Resource("events.k8s.io", "v1", "events", "event", "Event", True, ["ev"],
                 field_labels=["regarding.kind", "regarding.namespace", "regarding.name", "reason",
                               "type"]),
        Resource("coordination.k8s.io", "v1", "leases", "lease", "Lease", True),
        Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition",
                 "CustomResourceDefinition", False, ["crd", "crds"], ["api-extensions"], status=True,
                 generation=True),
        Resource("apps", "v1", "deployments", "deployment", "Deployment", True, ["deploy"], ["all"],
                 status=True, generation=True),
        Resource("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "selfsubjectaccessreview",
                 "SelfSubjectAccessReview", False, verbs=["create"]),
        Resource("authorization.k8s.io", "v1", "subjectaccessreviews", "subjectaccessreview",
                 "SubjectAccessReview", False, verbs=["create"]),
        Resource("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget",
                 True, ["pdb"], status=True, generation=True),
        Resource("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", True),
        Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", True),
        Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", False),
        Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding",
                 "ClusterRoleBinding", False),
    ]


# Events exist in two groups sharing storage in the real server; here they are separate stores,
# which no client in this project can observe.


class Registry:
    def __init__(self):
        self._lock = threading.RLock()
        self._by_gvr = {}
        self._group_order = []
        self._versions = {}  # group -> ordered versions
        for r in _builtins():
            self.add(r)

    def add(self, res):
        with self._lock:
            self._by_gvr[(res.group, res.version, res.plural)] = res
            if res.group not in self._versions:
                self._versions[res.group] = []
                self._group_order.append(res.group)
            if res.version not in self._versions[res.group]:
                self._versions[res.group].append(res.version)

    def remove_crd(self, crd_name):
        with self._lock:
            for k, r in list(self._by_gvr.items()):
                if r.crd_name == crd_name:
                    del self._by_gvr[k]
            self._rebuild_versions()

    def _rebuild_versions(self):
        seen = {}
        for r in self._by_gvr.values():
            seen.setdefault(r.group, [])
            if r.version not in seen[r.group]:
                seen[r.group].append(r.version)
        for g in list(self._versions):
            if g not in seen:
                del self._versions[g]
                self._group_order.remove(g)
            else:
                self._versions[g] = [v for v in self._versions[g] if v in seen[g]] + \
                    [v for v in seen[g] if v not in self._versions[g]]

    def set_versions_order(self, group, versions):
        with self._lock:
            if group in self._versions:
                self._versions[group] = [v for v in versions if v in self._versions[group]]

    def get(self, group, version, plural):
        with self._lock:
            return self._by_gvr.get((group, version, plural))

    def by_kind(self, group, kind):
        with self._lock:
            for r in self._by_gvr.values():
                if r.group == group and r.kind == kind:
                    return r
        return None

    def storage_of(self, gr):
        with self._lock:
            for r in self._by_gvr.values():
                if r.gr == gr:
                    return r
        return None

    def groups(self):
        with self._lock:
            return [(g, list(self._versions[g])) for g in self._group_order]

    def resources(self, group, version):
        with self._lock:
            return [r for (g, v, _), r in self._by_gvr.items() if g == group and v == version]

    def all(self):
        with self._lock:
            return list(self._by_gvr.values())
