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
