"""Fault-injection endpoint: plain HTTP on loopback, JSON in and out (see README.md)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _reply(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        app = self.server.app
        if self.path == "/requests":
            self._reply(200, app.requests_snapshot())
        elif self.path == "/state":
            self._reply(200, {"resourceVersion": app.store.rv, "floor": app.store.floor,
                              "watchers": len([w for w in app.store.watchers if w.gr is not None]),
                              "listener_up": app.front.srv is not None})
        elif self.path == "/istiod/debug/clusterz":
            # istiod authenticates its debug endpoints like xDS clients: no token, no answer.
            if app.istiod is None:
                self._reply(404, {"error": "istiod simulator is not enabled (--simulate istiod)"})
            elif not (self.headers.get("Authorization") or "").startswith("Bearer "):
                self._reply(401, {"error": "authentication failure"})
            else:
                self._reply(200, app.istiod.clusterz())
        else:
            self._reply(404, {"error": "unknown control path %s" % self.path})

    def do_POST(self):
        app = self.server.app
        n = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(n) or b"{}") if n else {}
        except ValueError as e:
            self._reply(400, {"error": str(e)})
            return
        p = self.path
        try:
            if p == "/drop-watches":
                app.store.drop_watchers(abort=bool(body.get("abort")))
            elif p == "/fail" and body.get("clear"):
                with app.faults.lock:
                    app.faults.rules = []
            elif p == "/fail":
                rule = {"count": int(body.get("count", 1)), "code": int(body.get("code", 500)),
                        "retryAfter": body.get("retryAfter"), "path_regex": body.get("path_regex"),
                        "query_regex": body.get("query_regex"),
                        "plain_text": bool(body.get("plain_text"))}
                with app.faults.lock:
                    app.faults.rules = [r for r in app.faults.rules if r["count"] > 0] + [rule]
            elif p == "/latency":
                app.faults.latency_ms = int(body.get("ms", 0))
            elif p == "/compact":
                app.store.compact()
            elif p == "/rotate-token":
                app.auth.rotate(body["token"])
            elif p == "/listener":
                if body.get("up", True):
                    app.front.start()
                else:
                    app.front.stop()
            elif p == "/requests/clear":
                app.clear_requests()
            elif p == "/bookmarks":
                app.bookmark_interval = float(body.get("interval", 60))
            elif p == "/tailscale":
                if app.tailscale is None:
                    raise KeyError("tailscale simulator is not enabled (--simulate tailscale)")
                app.tailscale.configure(body)
            elif p == "/istiod":
                if app.istiod is None:
                    raise KeyError("istiod simulator is not enabled (--simulate istiod)")
                app.istiod.configure(body)
            elif p == "/istiod/restart":
                if app.istiod is None:
                    raise KeyError("istiod simulator is not enabled (--simulate istiod)")
                app.istiod.start_up()
            else:
                self._reply(404, {"error": "unknown control path %s" % p})
                return
        except (KeyError, ValueError, TypeError) as e:
            self._reply(400, {"error": str(e)})
            return
        self._reply(200, {"ok": True, "resourceVersion": app.store.rv})


class ControlServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, app):
        self.app = app
        super().__init__(("127.0.0.1", 0), _ControlHandler)
        self.port = self.server_address[1]

    def start(self):
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
