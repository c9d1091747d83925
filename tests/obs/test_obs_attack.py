"""Attacks the health and metrics listeners of a RUNNING meshclusterd (against
kube-apiserver-lite) the way a port scan, a load balancer health check, a careless client or a
slowloris would, and proves the daemon stays up and keeps serving /healthz on both listeners:

  - hundreds of connect-and-close connections (issue 18.1: one of these killed the daemon with
    SIGSEGV in the close callback, before any request had allocated per-session state);
  - connections that never send a byte: the server must close them itself (idle timeout);
  - garbage bytes, a NUL in the request line, a non-HTTP handshake;
  - a slowloris sending one byte per second: closed by the header deadline, well before the
    bounded send loop ends;
  - oversized request headers: refused (431 or closed), never buffered without bound;
  - more concurrent connections than the per-listener cap: the excess is closed at once, and
    once the flood is gone /healthz answers again.

Each phase ends by checking that the process is alive and /healthz answers 200 "ok" on both
listeners; the test ends with SIGTERM and exit status 0. It runs in the ASan+UBSan suite too,
so a use-after-free or a leak in the server's connection handling fails it."""
import os
import random
import re
import socket
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reconciler"))
import e2e_lib as L  # noqa: E402

# k8s/obs_server.h: K8S_OBS_MAX_CONNECTIONS, K8S_OBS_TIMEOUT_S
MAX_CONNECTIONS = 64
HEADER_DEADLINE_S = 5
SPIN = os.path.join(L.REPO, "tests", "fuzz", "corpus", "k8s_obs_server_fuzz", "lws-4.1-spin")


def healthz(addr):
    with urllib.request.urlopen("http://%s:%d/healthz" % addr, timeout=5) as r:
        return r.status == 200 and r.read() == b"ok"


def closed_by_server(sock, timeout):
    """True when the server closes sock (EOF or reset) within timeout seconds."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


class Attack:
    def __init__(self, cluster, ports):
        self.c = cluster
        self.ports = ports  # [(host, port)]

    def check_alive(self, phase):
        rc = self.c.daemon.poll()
        if rc is not None:
            raise AssertionError("daemon died (exit %r) after %s\n%s" % (rc, phase, self.c.daemon_log()[-3000:]))
        for p in self.ports:
            L.wait_for("/healthz on %s:%d after %s" % (p + (phase,)), lambda: healthz(p), timeout=HEADER_DEADLINE_S * 4)
        print("ok: %s" % phase, flush=True)

    def connect_close(self, n=300):
        for p in self.ports:
            for i in range(n):
                s = socket.create_connection(p, timeout=5)
                if i % 2:
                    # An RST instead of a FIN, as some scanners do.
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.close()
        self.check_alive("%d connect-and-close per listener" % n)

    def idle(self, n=MAX_CONNECTIONS // 2):
        socks = [socket.create_connection(p, timeout=5) for p in self.ports for _ in range(n)]
        # Below the cap, a probe still gets through while they sit there.
        for p in self.ports:
            if not healthz(p):
                raise AssertionError("/healthz refused while %d idle connections are open" % n)
        deadline = HEADER_DEADLINE_S * 4
        open_left = [s for s in socks if not closed_by_server(s, deadline)]
        for s in socks:
            s.close()
        if open_left:
            raise AssertionError("%d idle connections still open after %d s" % (len(open_left), deadline))
        self.check_alive("%d idle connections per listener closed by the server" % n)

    def garbage(self, n=50):
        rnd = random.Random(18)
        payloads = [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200),  # a TLS ClientHello
                    b"GET /\x00healthz HTTP/1.1\r\n\r\n",
                    b"\r\n\r\n\r\n",
                    b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
                    b"POST /metrics HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                    b"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes(64),
                    # Made libwebsockets 4.1 spin for ever in the daemon's loop (a request
                    # answered before its body, then more pipelined): found by the fuzz target.
                    open(SPIN, "rb").read()]
        for p in self.ports:
            for i in range(n):
                data = payloads[i] if i < len(payloads) else bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 2048)))
                s = socket.create_connection(p, timeout=5)
                try:
                    s.sendall(data)
                    s.shutdown(socket.SHUT_WR)
                    closed_by_server(s, HEADER_DEADLINE_S * 4)
                except OSError:
                    pass  # the server may reset us mid-send: that is a fine answer to garbage
                s.close()
        self.check_alive("%d garbage requests per listener" % n)

    def slowloris(self, n=4, max_bytes=HEADER_DEADLINE_S * 4):
        """n connections per listener send a never-ending header one byte per second (at most
        max_bytes bytes); the server must close each before the loop runs out."""
        line = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 1000
        results = []

        def one(p):
            s = socket.create_connection(p, timeout=5)
            closed = False
            try:
                for i in range(max_bytes):
                    s.sendall(line[i:i + 1])
                    s.settimeout(1.0)
                    try:
                        if not s.recv(65536):
                            closed = True
                            break
                    except socket.timeout:
                        pass
            except OSError:
                closed = True
            s.close()
            results.append(closed)

        threads = [threading.Thread(target=one, args=(p,)) for p in self.ports for _ in range(n)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        for p in self.ports:  # served while the slow clients dribble
            if not healthz(p):
                raise AssertionError("/healthz refused during the slowloris")
        for t in threads:
            t.join()
        if not all(results):
            raise AssertionError("%d of %d slow connections were never closed by the server"
                                 % (results.count(False), len(results)))
        self.check_alive("%d one-byte-per-second connections per listener" % n)

    def oversized(self, n=20):
        for p in self.ports:
            for i in range(n):
                s = socket.create_connection(p, timeout=5)
                req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * (64 * 1024 + i) + b"\r\n\r\n"
                answer = b""
                try:
                    s.sendall(req)
                    s.settimeout(HEADER_DEADLINE_S * 4)
                    answer = s.recv(4096)
                except OSError:
                    pass  # reset while sending: refused
                s.close()
                if answer.startswith(b"HTTP/1.1 200"):
                    raise AssertionError("a 64 KiB header was accepted: %r" % answer[:200])
        self.check_alive("%d oversized headers per listener" % n)

    def flood(self, extra=100):
        socks = []
        for p in self.ports:
            for _ in range(MAX_CONNECTIONS + extra):
                try:
                    socks.append(socket.create_connection(p, timeout=5))
                except OSError:
                    pass
        # The excess is closed at once, not queued until the idle timeout.
        refused = sum(1 for s in socks if closed_by_server(s, 2))
        for s in socks:
            s.close()
        if refused < extra * len(self.ports):
            raise AssertionError("only %d of the connections over the cap were closed at once" % refused)
        self.check_alive("%d connections over the cap per listener" % extra)


def attack(tmp, clusters):
    c = clusters[0]
    # Two addresses that differ (so two listeners) and both ask for a free port.
    c.start_daemon("--health-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.2:0")
    ports = L.wait_for("both listeners", lambda: re.findall(
        r"serving health and metrics.*port=(\d+)", c.daemon_log())[:2] or None)
    if len(ports) != 2:
        raise AssertionError("expected two listeners, log: " + c.daemon_log())
    a = Attack(c, [("127.0.0.1", int(ports[0])), ("127.0.0.2", int(ports[1]))])
    a.check_alive("start")
    a.connect_close()
    a.idle()
    a.garbage()
    a.slowloris()
    a.oversized()
    a.flood()
    rc = c.stop_daemon()
    if rc != 0:
        raise AssertionError("daemon exit status %r after SIGTERM" % rc)


if __name__ == "__main__":
    L.run(["c1"], attack)
