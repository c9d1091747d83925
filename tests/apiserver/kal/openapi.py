"""OpenAPI v3: the real 1.32 documents from the fixtures plus one document per CRD group-version."""
import hashlib
import json
import os


class OpenApi:
    def __init__(self, fixtures_dir, schemas, registry):
        self.schemas = schemas
        self.reg = registry
        self.static = {}  # "api/v1" -> bytes
        for root, _, files in os.walk(fixtures_dir):
            for f in files:
                if f.endswith(".json"):
                    full = os.path.join(root, f)
                    rel = os.path.relpath(full, fixtures_dir)[:-len(".json")]
                    with open(full, "rb") as fh:
                        self.static[rel] = fh.read()

    def _crd_paths(self):
        out = {}
        for r in self.reg.all():
            if r.crd_name:
                out["apis/%s/%s" % (r.group, r.version)] = (r.group, r.version)
        return out

    def document(self, path):
        if path in self.static:
            return self.static[path]
        gv = self._crd_paths().get(path)
        if gv is None:
            return None
        return json.dumps(self.schemas.openapi_v3_doc_for_crd_group_version(*gv)).encode()

    @staticmethod
    def _hash(data):
        return hashlib.sha512(data).hexdigest().upper()

    def index(self):
        paths = {}
        for p in sorted(set(self.static) | set(self._crd_paths())):
            data = self.document(p)
            paths[p] = {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (p, self._hash(data))}
        return {"paths": paths}
