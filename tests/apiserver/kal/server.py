"""HTTPS/1.1 front end: authentication, routing, fault injection, request log, watch streaming."""
import gzip
import json
import os
import re
import socket
import ssl
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import yaml

from . import discovery, protobuf, selectors, status, table, watch
from .api import TRUE, Ctx
from .status import ApiError

PUBLIC_PATHS = ("/version", "/healthz", "/livez", "/readyz")
VERB_BY_METHOD = {"POST": "create", "PUT": "update", "PATCH": "patch"}


def _selected_name(verb, query, res):
    """For list and watch, the object a `metadata.name=X` field selector narrows the request to:
    the real server authorizes those against RBAC resourceNames, which is how a controller that
    may only see one object watches it (k8s.io/apiserver endpoints/request/requestinfo.go)."""
    if verb not in ("list", "watch"):
        return None
    try:
        reqs = selectors.parse_fields(query.get("fieldSelector"), res)
    except ApiError:
        return None  # refused after authorization, as the real server does
    names = [v for key, op, v in reqs if key == "metadata.name" and op == "="]
    return names[0] if names else None


MAX_BODY = 3 * 1024 * 1024
GZIP_THRESHOLD = 128 * 1024
# Media types the real server can answer in (anything else in Accept alone is 406).
ACCEPTABLE = ("*/*", "application/*", "application/json", "application/yaml",
              "application/vnd.kubernetes.protobuf", "application/json;stream=watch")


def acceptable(accept):
    if not accept:
        return True
    return any(part.split(";")[0].strip().lower() in ACCEPTABLE for part in accept.split(","))


def not_found_path():
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


class Faults:
    """Injected failures and latency, set through the control endpoint."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.latency_ms = 0

    def take(self, path, query=""):
        with self.lock:
            for r in self.rules:
                if r["count"] > 0 and (not r.get("path_regex") or re.search(r["path_regex"], path)) \
                        and (not r.get("query_regex") or re.search(r["query_regex"], query)):
                    r["count"] -= 1
                    return dict(r)
        return None


class _Listener(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, app):
        self.app = app
        self.conns = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        # headers and body go out as separate writes: without this, Nagle + delayed ACK add 40 ms
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.app.tls_ctx is not None:
            sock = self.app.tls_ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self.conns_lock:
            self.conns.add(sock)
        return sock, addr

    def shutdown_request(self, request):
        with self.conns_lock:
            self.conns.discard(request)
        super().shutdown_request(request)

    def close_all(self):
        with self.conns_lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver-lite"
    sys_version = ""

    def log_message(self, fmt, *args):
        if self.server.app.verbose:
            super().log_message(fmt, *args)

    def setup(self):
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError):
                self.close_connection = True
                raise
            self.request.settimeout(None)

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, OSError):
            pass

    # ---- plumbing ----------------------------------------------------------------------
    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            return self.rfile.read(n)
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return b""

    def _headers(self, code, ctype, length=None, extra=None):
        self.send_response_only(code)
        self.send_header("Date", self.date_time_string())
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", ctype)
        for k, v in (extra or []):
            self.send_header(k, v)
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def send_bytes(self, code, data, ctype="application/json", extra=None):
        # logged before it is sent: a client reading the log right after the answer sees it
        self.code = code
        if getattr(self, "entry", None) is not None:
            self.entry["code"] = code
        if len(data) > GZIP_THRESHOLD and "gzip" in (self.headers.get("Accept-Encoding") or "").lower():
            # the real server's APIResponseCompression: large answers are gzipped when the client can
            data = gzip.compress(data, 1)
            extra = list(extra or []) + [("Content-Encoding", "gzip")]
        self._headers(code, ctype, len(data), extra)
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    def send_json(self, code, obj, extra=None):
        self.send_bytes(code, json.dumps(obj, separators=(",", ":")).encode() + b"\n", extra=extra)

    def send_error_status(self, e, extra=None):
        hdrs = list(extra or []) + list(e.headers.items())
        self.send_json(e.code, e.status(), hdrs)

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PUT(self):
        self._serve("PUT")

    def do_PATCH(self):
        self._serve("PATCH")

    def do_DELETE(self):
        self._serve("DELETE")

    def do_HEAD(self):
        self._serve("HEAD")

    def _serve(self, method):
        app = self.server.app
        self.code = 0
        url = urlsplit(self.path)
        self.raw_query = url.query
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        body = self._body()
        too_large = len(body) > MAX_BODY
        # logged when it arrives (watches stay open), code filled in once answered
        entry = app.log_request(method, url.path, url.query, self.headers.get("Content-Type", ""),
                                0, self.headers.get("User-Agent", ""))
        self.entry = entry
        try:
            try:
                if too_large:  # the real server's MaxRequestBodyBytes
                    raise ApiError(413, "RequestEntityTooLarge", "Request entity too large: limit is %d"
                                   % MAX_BODY, None)
                self._dispatch(app, method, url.path, query, body)
            except ApiError as e:
                self.send_error_status(e)
            except (ConnectionError, ssl.SSLError, OSError):
                raise
            except Exception as e:  # a server bug: answer like the real server's panic handler
                traceback.print_exc()
                if not self.code:
                    self.send_error_status(ApiError(500, "InternalError", "Internal error occurred: %r" % (e,),
                                                    {"causes": [{"message": repr(e)}]}))
                self.close_connection = True
        except (ConnectionError, ssl.SSLError, OSError):
            self.close_connection = True
        finally:
            entry["code"] = self.code

    def _dispatch(self, app, method, path, query, body):
        if app.faults.latency_ms:
            time.sleep(app.faults.latency_ms / 1000.0)
        rule = app.faults.take(path, self.raw_query)
        if rule:
            ra = rule.get("retryAfter")
            if rule.get("plain_text"):
                extra = [("Retry-After", str(int(ra or 1)))]
                self.send_bytes(rule.get("code", 429), b"Too many requests, please try again later.\n",
                                "text/plain; charset=utf-8", extra)
                return
            raise status.generic(rule.get("code", 500), None, ra)
        auth_header = self.headers.get("Authorization")
        if auth_header is None:
            if path in PUBLIC_PATHS:
                user, rules = "system:anonymous", None
            else:
                raise ApiError(403, "Forbidden", 'forbidden: User "system:anonymous" cannot %s path "%s"'
                               % (method.lower(), path), {})
        else:
            user, rules = app.auth.authenticate(auth_header)
            target = self.headers.get("Impersonate-User")
            if target:
                user, rules = app.auth.impersonate(user, rules, target, self.headers.get_all("Impersonate-Group") or [])
        if path in ("/healthz", "/livez", "/readyz"):
            self.send_bytes(200, b"ok", "text/plain; charset=utf-8")
            return
        if path == "/version":
            self.send_json(200, discovery.VERSION)
            return
        if path.startswith("/openapi/"):
            return self._openapi(app, path)
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] not in ("api", "apis"):
            raise not_found_path()
        if parts[0] == "api":
            if len(parts) == 1:
                self.send_json(200, discovery.api_versions(self.headers.get("Host", "127.0.0.1")))
                return
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) == 1:
                self.send_json(200, discovery.group_list(app.registry))
                return
            if len(parts) == 2:
                g = discovery.group(app.registry, parts[1])
                if g is None:
                    raise not_found_path()
                self.send_json(200, g)
                return
            group, version, rest = parts[1], parts[2], parts[3:]
        if not rest:
            rl = discovery.resource_list(app.registry, group, version)
            if rl is None:
                raise not_found_path()
            self.send_json(200, rl)
            return
        self._resource(app, method, group, version, rest, query, body, user, rules)

    def _openapi(self, app, path):
        if path == "/openapi/v3" or path == "/openapi/v3/":
            self.send_json(200, app.openapi.index())
            return
        if path.startswith("/openapi/v3/"):
            data = app.openapi.document(path[len("/openapi/v3/"):])
            if data is not None:
                self.send_bytes(200, data, "application/json",
                                [("Cache-Control", "public, immutable"), ("Etag", '"%s"' % app.openapi._hash(data)[:32])])
                return
        raise not_found_path()

    def _resource(self, app, method, group, version, rest, query, body, user, rules):
        watch_path = False
        if rest[0] == "watch":
            watch_path, rest = True, rest[1:]
        ns = ""
        if len(rest) >= 3 and rest[0] == "namespaces" and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
            ns, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise not_found_path()
        res = app.registry.get(group, version, rest[0])
        if res is None:
            raise not_found_path()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if (ns and not res.namespaced) or (sub and not (sub == "status" and res.status)
                                           and not (sub == "finalize" and res.gr == ("", "namespaces"))):
            raise not_found_path()
        if res.namespaced and not ns and name:
            raise not_found_path()
        if method in ("GET", "HEAD"):
            is_watch = watch_path or query.get("watch") in TRUE
            verb = "watch" if is_watch else ("get" if name else "list")
        elif method == "DELETE":
            verb = "delete" if name else "deletecollection"
        else:
            verb = VERB_BY_METHOD.get(method)
            if verb is None or (verb in ("update", "patch") and not name) or (verb == "create" and name) \
                    or (verb == "create" and res.namespaced and not ns):
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the "
                               "requested resource", {})
        if verb not in res.verbs:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the "
                           "requested resource", {})
        if not acceptable(self.headers.get("Accept")):
            raise ApiError(406, "NotAcceptable", "406: Not Acceptable\n\nAvailable representations: "
                           "application/json, application/yaml, application/vnd.kubernetes.protobuf, "
                           "application/json;stream=watch, application/vnd.kubernetes.protobuf;stream=watch", {})
        if res.gr == ("authorization.k8s.io", "subjectaccessreviews"):
            app.auth.authorize(user, rules, "create", group, res.plural, None, "", None)
            ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
            review = self._decode(body, ctype) or {}
            spec = review.get("spec") or {}
            return self._access_review(app, spec.get("user", ""), app.auth.rules_for(
                spec.get("user", ""), spec.get("groups") or []), review, "SubjectAccessReview")
        if res.gr == ("authorization.k8s.io", "selfsubjectaccessreviews"):
            # every authenticated user may ask (the system:basic-user role)
            ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
            return self._access_review(app, user, rules, self._decode(body, ctype))
        app.auth.authorize(user, rules, verb, group, res.plural, sub, ns, name or _selected_name(verb, query, res))
        if verb == "patch" and rules is not None and (self.headers.get("Content-Type") or "").startswith(
                "application/apply-patch") and app.store.get(res.gr, ns, name) is None:
            # an apply that creates needs create too (the real PatchResource asks for both)
            app.auth.authorize(user, rules, "create", group, res.plural, sub, ns, name)
        ctx = Ctx(query, self.headers.get("User-Agent", ""), user)
        api = app.api
        ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        if verb == "watch":
            return self._watch(app, res, ns, name, ctx)
        if verb == "get":
            code, obj = api.get(res, ns, name, ctx)
        elif verb == "list":
            code, obj = api.list(res, ns, ctx)
        elif verb == "create":
            code, obj = api.create(res, ns, self._decode(body, ctype), ctx)
        elif verb == "update":
            code, obj = api.update(res, ns, name, self._decode(body, ctype), ctx, sub)
        elif verb == "patch":
            code, obj = api.patch(res, ns, name, body, self.headers.get("Content-Type"), ctx, sub)
        elif verb == "delete":
            code, obj = api.delete(res, ns, name, ctx, self._decode(body, ctype, True))
        else:
            code, obj = api.delete_collection(res, ns, ctx, self._decode(body, ctype, True))
        extra = [("Warning", '299 - "%s"' % w.replace("\\", "\\\\").replace('"', '\\"')) for w in ctx.warnings]
        if verb in ("get", "list") and code == 200:
            cols = self._table_columns(app, res)
            if cols is not None:
                if verb == "get":
                    obj = table.table([obj], cols)
                else:
                    obj = table.table(obj["items"], cols, obj["metadata"])
        self.send_json(code, obj, extra)

    def _table_columns(self, app, res):
        """Printer columns when the client asks for a Table of a custom resource, else None."""
        if not res.crd_name or not table.wants_table(self.headers.get("Accept", "")):
            return None
        crd = app.store.get(("apiextensions.k8s.io", "customresourcedefinitions"), "", res.crd_name)
        versions = [v for v in ((crd or {}).get("spec") or {}).get("versions") or [] if v.get("name") == res.version]
        return table.columns(versions[0] if versions else None)

    def _access_review(self, app, user, rules, review, kind="SelfSubjectAccessReview"):
        """SelfSubjectAccessReview answered from the token allow-list (what `kubectl auth can-i`
        asks)."""
        spec = (review or {}).get("spec") or {}
        ra = spec.get("resourceAttributes")
        allowed = True
        if ra is not None:
            try:
                app.auth.authorize(user, rules, ra.get("verb", ""), ra.get("group", ""), ra.get("resource", ""),
                                   ra.get("subresource") or None, ra.get("namespace", ""), ra.get("name") or None)
            except ApiError:
                allowed = False
        elif rules is not None:
            allowed = False
        status_ = {"allowed": allowed}
        if allowed:
            status_["reason"] = "allowed by the test server's token allow-list"
        self.send_json(201, {"kind": kind, "apiVersion": "authorization.k8s.io/v1",
                             "metadata": {"creationTimestamp": None}, "spec": spec, "status": status_})

    @staticmethod
    def _decode(body, ctype, optional=False):
        if not body:
            if optional:
                return {}
            raise status.bad_request("the body of the request was empty")
        if ctype == "application/vnd.kubernetes.protobuf":
            try:
                return protobuf.decode(body)
            except protobuf.ProtoError as e:
                if os.environ.get("KAL_DUMP_PROTOBUF"):
                    print("protobuf body: %r" % (protobuf.dump(body[4:]),), flush=True)
                raise ApiError(415, "UnsupportedMediaType", str(e), {})
        if ctype not in ("application/json", "application/yaml", "application/x-yaml", ""):
            # protobuf (typed clients such as `kubectl create configmap`) and CBOR are not emulated
            raise ApiError(415, "UnsupportedMediaType",
                           'the body of the request was in an unknown format - accepted media types '
                           'include: application/json, application/yaml', {})
        try:
            if ctype in ("application/yaml", "application/x-yaml"):
                return yaml.safe_load(body.decode())
            return json.loads(body.decode())
        except (ValueError, yaml.YAMLError) as e:
            raise status.bad_request("couldn't get version/kind; json parse error: %s" % e)

    def _watch(self, app, res, ns, name, ctx):
        watch.serve(self, app, res, ns, name, ctx)

class HttpsFrontEnd:
    def __init__(self, app, port):
        self.app = app
        self.port = port
        self.srv = None
        self.thread = None
        self.lock = threading.Lock()

    def start(self):
        with self.lock:
            if self.srv is not None:
                return
            for _ in range(50):
                try:
                    self.srv = _Listener(("127.0.0.1", self.port), Handler, self.app)
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                raise OSError("cannot bind 127.0.0.1:%d" % self.port)
            self.port = self.srv.server_address[1]
            self.thread = threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.1},
                                           daemon=True)
            self.thread.start()

    def stop(self):
        with self.lock:
            if self.srv is None:
                return
            self.srv.shutdown()
            self.srv.server_close()
            self.app.store.drop_watchers()
            self.srv.close_all()
            self.srv = None
