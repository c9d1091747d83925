"""A hostile API server for tests: an HTTPS listener on 127.0.0.1 that either proxies a real
(lite) API server byte for byte, or answers every request in one hostile way. The mode switches
at run time (set_mode), and a switch shuts down every open connection so that the client's
watches and keep-alive connections come back and meet the new mode at once; switching back to
"proxy" is the API server "returning".

It serves with the upstream's own certificate (the lite server writes its CA key and serving
certificate into its data folder), so the client's kubeconfig only needs its server URL
changed; "wrong_name" serves a certificate from the same CA for another name.

Every hostile answer is bounded (bytes and seconds) so a test can never hang on it. Used
in-process by the tests (threads), loopback only, no other dependency than openssl's CLI.
"""
import http.client
import json
import os
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MIB = 1024 * 1024
BIG_BODY = 100 * MIB          # "a 100 MB body"
ENDLESS_LINE_MAX = 64 * MIB   # the line that never ends, bounded for the test's sake
SLOW_BYTES = 40               # slowloris: this many bytes, one per second, then close
DEEP = 100000                 # JSON nesting depth
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-connection", "content-length"}

MODES = ("proxy", "big_body", "big_body_cl", "endless_line", "bad_utf8", "deep_json", "html",
         "protobuf", "slowloris", "wrong_name", "redirect", "truncated", "body_limit")
BODY_LIMIT = 3 * MIB          # the real API server's request body limit


def make_cert(cert_dir, ca_crt, ca_key, name, out_prefix):
    """A serving certificate for `name` only, signed by the given CA (openssl CLI)."""
    key, csr, crt = (os.path.join(cert_dir, out_prefix + s) for s in (".key", ".csr", ".crt"))
    ext = os.path.join(cert_dir, out_prefix + ".ext")
    run = lambda *a: subprocess.run(a, check=True, stdout=subprocess.DEVNULL,  # noqa: E731
                                    stderr=subprocess.PIPE)
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", csr, "-subj", "/CN=" + name)
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n" % name)
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "2", "-extfile", ext)
    return crt, key


def is_watch(query):
    return parse_qs(query).get("watch", [""])[0] in ("true", "1")


class _Listener(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, owner, handler):
        self.owner = owner
        super().__init__(("127.0.0.1", 0), handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ctx = self.owner.wrong_ctx if self.owner.mode == "wrong_name" else self.owner.good_ctx
        sock = ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        self.owner.count(self.owner.mode + ":conn")  # seen even when the handshake fails
        self.owner.track(sock)
        return sock, addr

    def shutdown_request(self, request):
        self.owner.untrack(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        pass  # a client hanging up on a hostile answer (or a mode switch) is the point


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hostile"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        self.request.settimeout(10)
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError):
            self.close_connection = True
            raise
        self.request.settimeout(120)

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, OSError, ValueError):
            pass

    def do_GET(self):
        self.serve("GET")

    def do_POST(self):
        self.serve("POST")

    def do_PUT(self):
        self.serve("PUT")

    def do_PATCH(self):
        self.serve("PATCH")

    def do_DELETE(self):
        self.serve("DELETE")

    # ---- plumbing -----------------------------------------------------------------------
    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def head(self, code, ctype, length=None, extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()

    def chunk(self, data):
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def end_chunks(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def serve(self, method):
        owner = self.server.owner
        body = self.body()
        mode = owner.mode
        owner.count(mode)
        u = urlsplit(self.path)
        watch = method == "GET" and is_watch(u.query)
        getattr(self, "m_" + mode)(method, body, watch)

    # ---- proxy --------------------------------------------------------------------------
    def upstream(self, method, body):
        owner = self.server.owner
        conn = http.client.HTTPSConnection("127.0.0.1", owner.upstream_port, context=owner.client_ctx,
                                           timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS and
                   k.lower() != "accept-encoding"}
        conn.request(method, self.path, body=body or None, headers=headers)
        return conn, conn.getresponse()

    def relay_head(self, resp, chunked, length=None):
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_HEADERS:
                self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def m_proxy(self, method, body, watch, transform=None):
        conn, resp = self.upstream(method, body)
        try:
            if watch and resp.status == 200:
                # Line by line, so a transform sees whole events.
                self.relay_head(resp, True)
                self.wfile.flush()
                while True:
                    line = resp.readline()
                    if not line:
                        break
                    self.chunk(transform(line) if transform else line)
                    self.wfile.flush()
                self.end_chunks()
            else:
                data = resp.read()
                if transform and resp.status == 200:
                    data = transform(data)
                self.relay_head(resp, False, len(data))
                self.wfile.write(data)
                self.wfile.flush()
        finally:
            conn.close()

    # ---- hostile answers ----------------------------------------------------------------
    def m_big_body(self, method, body, watch, declared=False):
        """100 MB of valid-looking JSON: chunked (must be cut off while buffering) or with a
        Content-Length that says so up front. To a watch it is one 100 MB line."""
        item = b'{"kind":"ConfigMap","data":{"k":"' + b"x" * (MIB - 64) + b'"}},'
        n = BIG_BODY // len(item)
        start, end = b'{"kind":"List","apiVersion":"v1","metadata":{},"items":[', b'{}]}'
        total = len(start) + n * len(item) + len(end)
        self.head(200, "application/json", total if declared else None)
        put = self.wfile.write if declared else self.chunk
        sent = [0]

        def send(b):
            put(b)
            self.wfile.flush()
            sent[0] += len(b)

        try:
            send(start)
            for _ in range(n):
                send(item)
            send(end)
            if not declared:
                self.end_chunks()
        finally:
            # How much the client read before giving up: one 1 MiB item past what the socket
            # buffers hold when it refuses up front, its whole cap when it buffers first.
            self.server.owner.record_sent("big_body_cl" if declared else "big_body", sent[0])

    def m_big_body_cl(self, method, body, watch):
        self.m_big_body(method, body, watch, declared=True)

    def m_endless_line(self, method, body, watch):
        """Watches get a 200 and a line that never ends (bounded); everything else is proxied,
        so lists succeed and only watching fails."""
        if not watch:
            return self.m_proxy(method, body, watch)
        self.head(200, "application/json")
        self.chunk(b'{"type":"ADDED","object":{"kind":"ConfigMap","data":{"k":"')
        piece = b"y" * MIB
        for _ in range(ENDLESS_LINE_MAX // MIB):
            self.chunk(piece)
        self.wfile.flush()
        self.close_connection = True

    def m_bad_utf8(self, method, body, watch):
        """The real answers, with invalid UTF-8 inside JSON strings: an annotation and a label
        value on every object, and a MeshCluster's spec.network (it flows into names, labels
        and the istio ConfigMap)."""
        marker = "\u0001HOSTILE\u0001"

        def poison(o):
            if not isinstance(o, dict):
                return
            if "object" in o and "type" in o:
                return poison(o["object"])
            for it in o.get("items") or []:
                poison(it)
            md = o.get("metadata")
            if isinstance(md, dict) and "name" in md:
                md.setdefault("annotations", {})["hostile.test/utf8"] = marker
                if o.get("kind") == "MeshCluster" and isinstance(o.get("spec"), dict):
                    o["spec"]["network"] = "net" + marker

        def transform(data):
            try:
                obj = json.loads(data)
            except ValueError:
                return data
            poison(obj)
            out = json.dumps(obj, ensure_ascii=True).encode()
            # \xff and \xc3\x28 are never valid UTF-8; \xed\xa0\x80 is a lone surrogate.
            out = out.replace(b"\\u0001HOSTILE\\u0001", b"\xff\xfe-\xc3\x28-\xed\xa0\x80")
            return out + (b"\n" if data.endswith(b"\n") else b"")

        self.m_proxy(method, body, watch, transform)

    def m_deep_json(self, method, body, watch):
        if watch:
            data = b'{"type":"ADDED","object":' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}\n"
        else:
            data = b'{"kind":"List","items":' + b"[" * DEEP + b"]" * DEEP + b"}"
        self.head(200, "application/json", len(data))
        self.wfile.write(data)
        self.wfile.flush()

    def m_html(self, method, body, watch):
        data = b"<html><head><title>Login</title></head><body>Please sign in</body></html>\n"
        self.head(200, "text/html; charset=utf-8", len(data))
        self.wfile.write(data)
        self.wfile.flush()

    def m_protobuf(self, method, body, watch):
        # The k8s protobuf envelope: magic "k8s\0" then a runtime.Unknown message.
        data = b"k8s\x00\x0a\x0c\x0a\x02v1\x12\x06Status\x12\x00\x1a\x00\x22\x00"
        self.head(200, "application/vnd.kubernetes.protobuf", len(data))
        self.wfile.write(data)
        self.wfile.flush()

    def m_slowloris(self, method, body, watch):
        """The status line, headers and body one byte per second, SLOW_BYTES in all."""
        owner = self.server.owner
        data = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{}"
        for i in range(min(SLOW_BYTES, len(data))):
            if owner.mode != "slowloris":
                break
            self.wfile.write(data[i:i + 1])
            self.wfile.flush()
            time.sleep(1.0)
        self.close_connection = True

    def m_wrong_name(self, method, body, watch):
        # Reached only by a client that does not check the name: give it nothing useful.
        self.m_html(method, body, watch)

    def m_redirect(self, method, body, watch):
        owner = self.server.owner
        owner.redirects += 1
        code = (301, 302, 307, 308)[owner.redirects % 4]
        target = "https://127.0.0.1:%d%s" % (owner.sink.port, self.path)
        data = b'{"kind":"Status","apiVersion":"v1","status":"Failure","code":%d}' % code
        self.head(code, "application/json", len(data), [("Location", target)])
        self.wfile.write(data)
        self.wfile.flush()

    def m_body_limit(self, method, body, watch):
        """What the real API server does with a request body over 3 MiB (the lite one takes
        anything): 413 RequestEntityTooLarge. Smaller requests are proxied."""
        if len(body) <= BODY_LIMIT:
            return self.m_proxy(method, body, watch)
        self.server.owner.record_sent("body_limit", len(body))
        data = json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": "Request entity too large: limit is %d" % BODY_LIMIT,
                           "reason": "RequestEntityTooLarge", "code": 413}).encode()
        self.head(413, "application/json", len(data))
        self.wfile.write(data)
        self.wfile.flush()

    def m_truncated(self, method, body, watch):
        """The real answer with a Content-Length that promises more than is sent, then EOF.
        A watch gets half an event and EOF in the middle of its chunked stream."""
        if watch:
            self.head(200, "application/json")
            self.chunk(b'{"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"na')
            self.wfile.flush()
            self.close_connection = True
            return
        conn, resp = self.upstream(method, body)
        try:
            data = resp.read()
        finally:
            conn.close()
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.getheader("Content-Type") or "application/json")
        self.send_header("Content-Length", str(len(data) + 4096))
        self.end_headers()
        self.wfile.write(data[: max(1, len(data) // 2)])
        self.wfile.flush()
        self.close_connection = True


class _Sink:
    """Where redirects point: another port that records whatever reaches it (a client that
    follows a redirect, worse one that sends its bearer token along)."""

    def __init__(self, ctx):
        self.hits = []
        sink = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_GET(self):
                sink.hits.append({"path": self.path, "authorization": self.headers.get("Authorization")})
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        class L(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                s, a = self.socket.accept()
                return ctx.wrap_socket(s, server_side=True), a

        self.srv = L(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class HostileServer:
    """upstream_port: the lite server's HTTPS port; cert_dir: its data folder (ca.crt, ca.key,
    server.crt, server.key)."""

    def __init__(self, upstream_port, cert_dir, work_dir):
        self.upstream_port = upstream_port
        ca_crt, ca_key = os.path.join(cert_dir, "ca.crt"), os.path.join(cert_dir, "ca.key")
        self.good_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.good_ctx.load_cert_chain(os.path.join(cert_dir, "server.crt"), os.path.join(cert_dir, "server.key"))
        wrong_crt, wrong_key = make_cert(work_dir, ca_crt, ca_key, "wrong.example", "hostile-wrong")
        self.wrong_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.wrong_ctx.load_cert_chain(wrong_crt, wrong_key)
        self.client_ctx = ssl.create_default_context(cafile=ca_crt)
        self.mode = "proxy"
        self.counts = {}
        self.sent = {}
        self.redirects = 0
        self.lock = threading.Lock()
        self.conns = set()
        self.sink = _Sink(self.good_ctx)
        self.srv = _Listener(self, _Handler)
        self.port = self.srv.server_address[1]
        self.url = "https://127.0.0.1:%d" % self.port
        threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def track(self, sock):
        with self.lock:
            self.conns.add(sock)

    def untrack(self, sock):
        with self.lock:
            self.conns.discard(sock)

    def count(self, mode):
        with self.lock:
            self.counts[mode] = self.counts.get(mode, 0) + 1

    def record_sent(self, mode, n):
        with self.lock:
            self.sent.setdefault(mode, []).append(n)

    def sent_in(self, mode):
        with self.lock:
            return list(self.sent.get(mode, []))

    def requests_in(self, mode):
        with self.lock:
            return self.counts.get(mode, 0)

    def set_mode(self, mode):
        """Switches and drops every open connection, so nothing carries on in the old mode."""
        if mode not in MODES:
            raise ValueError(mode)
        self.mode = mode
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self):
        self.srv.shutdown()
        self.set_mode("proxy")
        self.srv.server_close()
        self.sink.stop()


def _serve_control(hs):
    """POST /mode {"mode": m}; POST /check/sink-empty (409 when a redirect was followed);
    POST /check/sent-below {"mode": m, "bytes": n[, "min": k]} (409 unless every response in m
    sent fewer than n bytes, and at least k; body_limit records the request bodies it got)."""
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(n) or b"{}")
            code, out = 200, {}
            if self.path == "/mode":
                hs.set_mode(body["mode"])
            elif self.path == "/check/sink-empty":
                code, out = (200 if not hs.sink.hits else 409), {"hits": hs.sink.hits}
            elif self.path == "/check/sent-below":
                sent = hs.sent_in(body["mode"])
                code = 200 if sent and max(sent) < body["bytes"] and min(sent) >= body.get("min", 0) else 409
                out = {"sent": sent}
            else:
                code = 404
            data = json.dumps(out).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return srv


def main(argv):
    """hostile_server.py -- command [args...], under tests/support/with-apiserver: runs the
    command with KUBECONFIG pointing at a hostile server in front of the lite one and
    MC_APISERVER_CONTROL at this server's control endpoint (see _serve_control)."""
    import tempfile

    import yaml
    if "--" in argv:
        argv = argv[argv.index("--") + 1:]
    with open(os.environ["MC_APISERVER_INFO"]) as f:
        info = json.load(f)
    work = tempfile.mkdtemp(prefix="mc-hostile-")
    hs = HostileServer(int(info["url"].rsplit(":", 1)[1]), os.path.dirname(info["ca_file"]), work)
    ctl = _serve_control(hs)
    with open(info["kubeconfig"]) as f:
        kc = yaml.safe_load(f)
    kc["clusters"][0]["cluster"]["server"] = hs.url
    path = os.path.join(work, "kubeconfig")
    with open(path, "w") as f:
        yaml.safe_dump(kc, f)
    env = dict(os.environ, KUBECONFIG=path, MC_APISERVER_CONTROL="http://127.0.0.1:%d" % ctl.server_address[1],
               MC_HOSTILE_URL=hs.url)
    try:
        return subprocess.call(argv, env=env)
    finally:
        ctl.shutdown()
        hs.stop()
        import shutil
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    import sys
    sys.exit(main(sys.argv[1:]))
