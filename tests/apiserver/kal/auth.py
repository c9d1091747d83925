"""Bearer-token authentication and a per-token allow-list standing in for RBAC."""
import json
import threading

from . import status


class Auth:
    def __init__(self, token, tokens_file=None):
        self._lock = threading.Lock()
        self.admin_token = token
        self.tokens = {}
        if tokens_file:
            with open(tokens_file) as f:
                self.tokens = json.load(f)

    def rotate(self, new_token):
        with self._lock:
            self.admin_token = new_token

    def authenticate(self, header):
        """Returns (user, rules) where rules None means everything is allowed."""
        if not header or not header.startswith("Bearer "):
            raise status.unauthorized()
        tok = header[len("Bearer "):].strip()
        with self._lock:
            if tok == self.admin_token:
                return "admin", None
            entry = self.tokens.get(tok)
        if entry is None:
            raise status.unauthorized()
        return entry.get("user", "user"), entry.get("allow", [])

    def rules_for(self, user, groups=()):
        """The allow-list of a user named in a request (impersonation, SubjectAccessReview):
        system:masters and the admin may do everything, a tokens-file user its rules, anyone
        else nothing."""
        if "system:masters" in groups or user == "admin":
            return None
        with self._lock:
            for entry in self.tokens.values():
                if entry.get("user", "user") == user:
                    return entry.get("allow", [])
        return []

    def impersonate(self, user, rules, target, groups):
        """Who a request acting as `target` runs as: only an unrestricted user may impersonate
        (the admin's system:masters)."""
        if rules is not None:
            raise status.ApiError(403, "Forbidden", 'users "%s" is forbidden: User "%s" cannot impersonate '
                                  'resource "users" in API group "" at the cluster scope' % (target, user),
                                  {"name": target, "kind": "users"})
        return target, self.rules_for(target, groups)

    @staticmethod
    def _has(lst, value):
        return lst is None or "*" in lst or value in lst

    def authorize(self, user, rules, verb, group, resource, sub, ns, name):
        if rules is None:
            return
        full = resource + ("/" + sub if sub else "")
        for r in rules:
            if not (self._has(r.get("verbs"), verb) and self._has(r.get("apiGroups"), group)
                    and self._has(r.get("resources"), full)):
                continue
            nss = r.get("namespaces")
            if ns and not self._has(nss, ns):
                continue
            if not ns and nss is not None and "*" not in nss:
                continue  # namespace-limited rules do not grant cluster-wide access
            names = r.get("resourceNames")
            if names is not None and (not name or name not in names):
                continue
            return
        raise status.forbidden(resource, group, name, user, verb, ns, sub=sub)
