"""Wires the server together: certificates, store, front ends, controllers, info files."""
import base64
import json
import os
import ssl
import subprocess
import tempfile
import threading
import time

from . import crd, simulators
from .api import Api, Ctx, random_token
from .auth import Auth
from .control import ControlServer
from .gc import GarbageCollector
from .openapi import OpenApi
from .pure import SchemaRegistry
from .resources import Registry
from .server import Faults, HttpsFrontEnd
from .store import Store


def make_certs(d):
    """A fresh CA and a serving certificate for 127.0.0.1/localhost, with the openssl CLI."""
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    key, csr, crt = (os.path.join(d, n) for n in ("server.key", "server.csr", "server.crt"))
    ext = os.path.join(d, "server.ext")
    run = lambda *a: subprocess.run(a, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", ca_key, "-out", ca_crt, "-days", "7", "-subj", "/CN=kube-apiserver-lite-ca",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", csr, "-subj", "/CN=kube-apiserver")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n"
                "extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                "basicConstraints=CA:FALSE\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "7", "-extfile", ext)
    return ca_crt, crt, key


def write_atomic(path, text):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class App:
    def __init__(self, args):
        self.args = args
        self.verbose = args.verbose
        self.store = Store(args.history)
        self.registry = Registry()
        self.schemas = SchemaRegistry()
        self.schemas.load_openapi_dir(args.fixtures)
        self.openapi = OpenApi(args.fixtures, self.schemas, self.registry)
        self.api = Api(self.store, self.registry, self.schemas)
        crd.install(self.api)
        self.auth = Auth(args.token or random_token(), args.tokens_file)
        self.faults = Faults()
        self.bookmark_interval = args.bookmark_interval
        self.default_watch_timeout = 1800
        self.requests = []
        self.req_lock = threading.Lock()
        self.tailscale = None
        self.istiod = None
        self.tls_ctx = None
        self.front = None

    # ---- request log -------------------------------------------------------------------
    def log_request(self, method, path, query, ctype, code, ua):
        entry = {"method": method, "path": path, "query": query, "content_type": ctype,
                 "code": code, "user_agent": ua, "time": time.time()}
        with self.req_lock:
            self.requests.append(entry)
        return entry

    def requests_snapshot(self):
        with self.req_lock:
            return [dict(e) for e in self.requests]

    def clear_requests(self):
        with self.req_lock:
            self.requests = []

    # ---- start -------------------------------------------------------------------------
    def seed(self):
        nsres = self.registry.get("", "v1", "namespaces")
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.api.create(nsres, "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                            Ctx({"fieldManager": "kube-apiserver"}))
        svc = self.registry.get("", "v1", "services")
        self.api.create(svc, "default", {"apiVersion": "v1", "kind": "Service", "metadata": {
            "name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                                          "targetPort": 6443}]}},
            Ctx({"fieldManager": "kube-apiserver"}))

    def start(self):
        a = self.args
        data_dir = a.data_dir or (os.path.dirname(os.path.abspath(a.info_out)) if a.info_out
                                  else tempfile.mkdtemp(prefix="kal-"))
        os.makedirs(data_dir, exist_ok=True)
        cert_dir = tempfile.mkdtemp(prefix="kal-pki-", dir=data_dir)
        ca, crt, key = make_certs(cert_dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        ctx.set_alpn_protocols(["http/1.1"])
        self.tls_ctx = ctx
        self.seed()
        GarbageCollector(self).start()
        sims = [s for s in (a.simulate or "").split(",") if s]
        if "tailscale" in sims:
            self.tailscale = simulators.Tailscale(self, a.tailscale_ready_delay, a.tailscale_fail)
            self.tailscale.start()
        if "istiod" in sims:
            self.istiod = simulators.Istiod(self, cert_dir)
            self.istiod.start()
        self.front = HttpsFrontEnd(self, a.port)
        self.front.start()
        self.control = ControlServer(self)
        self.control.start()
        url = "https://127.0.0.1:%d" % self.front.port
        kubeconfig = os.path.abspath(a.kubeconfig_out or os.path.join(data_dir, "kubeconfig"))
        with open(ca, "rb") as f:
            ca_data = base64.b64encode(f.read()).decode()
        write_atomic(kubeconfig, "\n".join([
            "apiVersion: v1", "kind: Config", "clusters:", "- name: kube-apiserver-lite", "  cluster:",
            "    server: %s" % url, "    certificate-authority-data: %s" % ca_data, "users:",
            "- name: admin", "  user:", "    token: %s" % self.auth.admin_token, "contexts:",
            "- name: kube-apiserver-lite", "  context:", "    cluster: kube-apiserver-lite",
            "    user: admin", "    namespace: default", "current-context: kube-apiserver-lite", ""]))
        info = {"url": url, "control_url": "http://127.0.0.1:%d" % self.control.port,
                "ca_file": os.path.abspath(ca), "token": self.auth.admin_token, "kubeconfig": kubeconfig,
                "pid": os.getpid()}
        if a.info_out:
            write_atomic(a.info_out, json.dumps(info, indent=2) + "\n")
        print("listening on %s" % url, flush=True)
        print("control on %s" % info["control_url"], flush=True)
        return info
