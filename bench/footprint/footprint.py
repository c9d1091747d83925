"""Idle footprint of meshclusterd: RSS, anonymous memory and what each shared library costs.

Usage: footprint.py [--n N ...] [--idle SECONDS] [--keep] BUILD_DIR ...

For each build directory (its meshclusterd; a label is the directory's CMAKE_BUILD_TYPE) and
each N (default 10), on a private test API server with the Tailscale and istiod simulators
(bench/converge's set-up; MC_TEST_SERVER picks lite or real), N MeshClusters converge, the
daemon is left idle for --idle seconds, and /proc/PID/smaps is read: per mapping file (the
binary, each shared library) its RSS, PSS and private pages; the heap and anonymous mappings;
and totals from /proc/PID/status (VmRSS, RssAnon, RssFile), open fds and threads. Then the
dynamic-library graph (readelf NEEDED) says which library pulls in GnuTLS, p11-kit and LDAP.
Prints figures; asserts nothing.
"""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "bench", "converge"))
sys.path.insert(0, os.path.join(REPO, "tests", "reconciler"))
import converge  # noqa: E402  (server, API client, convergence)
import e2e_lib  # noqa: E402

FIELDS = ("Rss", "Pss", "Private_Clean", "Private_Dirty", "Anonymous")
# What libcurl drags in that an OpenSSL-only HTTP/2 client never calls.
UNWANTED = ("libgnutls", "libp11-kit", "libldap", "liblber", "libsasl2", "librtmp", "libssh2",
            "libgssapi_krb5", "libkrb5", "libk5crypto", "libhogweed", "libnettle", "libgmp",
            "libtasn1", "libidn2", "libunistring", "libpsl", "libffi", "libbrotli", "libzstd")


def smaps(pid):
    """{mapping name: {field: KiB}}; anonymous mappings are "[anon]"."""
    out = collections.defaultdict(lambda: dict.fromkeys(FIELDS, 0))
    name = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            head = re.match(r"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$", line)
            if head:
                name = head.group(1).strip() or "[anon]"
                name = re.sub(r" \(deleted\)$", "", name)
                continue
            k, _, v = line.partition(":")
            if k in FIELDS and name:
                out[name][k] += int(v.split()[0])
    return out


def status(pid):
    vals = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "Threads"):
                vals[k] = int(v.split()[0])
    vals["fds"] = len(os.listdir("/proc/%d/fd" % pid))
    return vals


def short(path):
    return os.path.basename(path) if path.startswith("/") else path


def report(label, n, pid):
    st = status(pid)
    maps = smaps(pid)
    print("\n%s, N=%d: RSS %.1f MiB (anonymous %.1f MiB, file-backed %.1f MiB), peak %.1f MiB, "
          "%d fds, %d threads" % (label, n, st["VmRSS"] / 1024, st["RssAnon"] / 1024,
                                  st["RssFile"] / 1024, st["VmHWM"] / 1024, st["fds"], st["Threads"]))
    by_file = collections.defaultdict(lambda: dict.fromkeys(FIELDS, 0))
    for name, v in maps.items():
        key = short(name)
        for k in FIELDS:
            by_file[key][k] += v[k]
    rows = sorted(by_file.items(), key=lambda kv: -kv[1]["Rss"])
    print("| mapping | RSS KiB | PSS KiB | private KiB | anonymous KiB |")
    print("|---|---|---|---|---|")
    for name, v in rows:
        if v["Rss"] == 0:
            continue
        print("| %s | %d | %d | %d | %d |" % (name, v["Rss"], v["Pss"],
                                               v["Private_Clean"] + v["Private_Dirty"], v["Anonymous"]))
    libs = {k: v for k, v in by_file.items() if ".so" in k}
    unwanted = {k: v for k, v in libs.items() if k.startswith(UNWANTED)}
    print("shared libraries: %d mapped, RSS %d KiB (PSS %d KiB, private %d KiB); of them libcurl's "
          "unused dependencies (%s): %d mapped, RSS %d KiB, private %d KiB, anonymous %d KiB"
          % (len(libs), sum(v["Rss"] for v in libs.values()), sum(v["Pss"] for v in libs.values()),
             sum(v["Private_Clean"] + v["Private_Dirty"] for v in libs.values()),
             "GnuTLS, p11-kit, LDAP, SASL, RTMP, SSH, Kerberos, ...", len(unwanted),
             sum(v["Rss"] for v in unwanted.values()),
             sum(v["Private_Clean"] + v["Private_Dirty"] for v in unwanted.values()),
             sum(v["Anonymous"] for v in unwanted.values())), flush=True)
    return st


# -- who pulls what --------------------------------------------------------------------------
def needed(path):
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def resolve(binary):
    """{soname: path} from ldd."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    return {m.group(1): m.group(2) for m in re.finditer(r"^\s*(\S+) => (\S+)", out, re.M)}


def pulled_by(binary, targets=("libgnutls", "libp11-kit", "libldap", "libsasl2", "librtmp")):
    """For each target library, the shortest NEEDED chain from the binary to it."""
    paths = resolve(binary)
    graph = {os.path.basename(binary): needed(binary)}
    todo = list(graph[os.path.basename(binary)])
    while todo:
        so = todo.pop()
        if so in graph or so not in paths:
            continue
        graph[so] = needed(paths[so])
        todo.extend(graph[so])
    chains = {}
    start = os.path.basename(binary)
    prev, queue = {start: None}, [start]
    while queue:
        cur = queue.pop(0)
        for nxt in graph.get(cur, []):
            if nxt not in prev:
                prev[nxt] = cur
                queue.append(nxt)
    for t in targets:
        hit = next((so for so in prev if so.startswith(t)), None)
        if not hit:
            chains[t] = None
            continue
        chain, cur = [], hit
        while cur:
            chain.append(cur)
            cur = prev[cur]
        chains[t] = " -> ".join(reversed(chain))
    direct = {so: [p for p, deps in graph.items() if so in deps] for so in prev if so != start}
    return chains, direct, len(prev) - 1


def print_pulls(binary):
    chains, direct, total = pulled_by(binary)
    print("\nlibraries loaded by %s: %d (the dynamic loader's closure)" % (binary, total))
    for t, chain in chains.items():
        if chain:
            users = ", ".join(sorted(direct[chain.split(" -> ")[-1]]))
            print("  %s: %s   (needed by %s)" % (t, chain, users))
        else:
            print("  %s: not loaded" % t)


# -- run -----------------------------------------------------------------------------------
def build_label(build):
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            m = re.search(r"^CMAKE_BUILD_TYPE:\w+=(.*)$", f.read(), re.M)
            return "%s (%s)" % (os.path.basename(build.rstrip("/")), m.group(1) if m else "?")
    except OSError:
        return build


def run_one(build, n, args):
    tmp = tempfile.mkdtemp(prefix="mc-bench-footprint-")
    daemon = os.path.join(tmp, "meshclusterd")
    shutil.copy(os.path.join(build, "meshclusterd"), daemon)
    subprocess.run(["strip", daemon], check=True)  # as the image ships it (Dockerfile)
    e2e_lib.DAEMON = daemon
    c = converge.start_server("footprint", tmp, n)
    api = converge.Api(c)
    local = "cluster0001"
    mcs = converge.meshclusters(n)
    try:
        converge.create_all(api, mcs)
        _, rendered = converge.render(tmp, local, mcs)
        with open(os.path.join(tmp, "daemon.log"), "a") as log:
            tr, res = converge.converge(c, api, rendered, local, [], log)
            tr.stop()
            if res.get("note"):
                raise RuntimeError("N=%d: %s" % (n, res["note"]))
            time.sleep(args.idle)
            st = report(build_label(build), n, c.daemon.pid)
        c.stop_daemon()
        return st
    finally:
        api.close()
        c.close()
        if args.keep:
            print("  kept " + tmp)
        else:
            e2e_lib.cleanup(tmp)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("builds", nargs="+")
    ap.add_argument("--n", type=int, action="append")
    ap.add_argument("--idle", type=float, default=5.0)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    rows = []
    for build in args.builds:
        for n in args.n or [10]:
            rows.append((build_label(build), n, run_one(build, n, args)))
    print_pulls(os.path.join(args.builds[0], "meshclusterd"))
    print("\n| build | N | RSS MiB | anonymous MiB | file-backed MiB | peak MiB | fds | threads |")
    print("|---|---|---|---|---|---|---|---|")
    for label, n, st in rows:
        print("| %s | %d | %.1f | %.1f | %.1f | %.1f | %d | %d |"
              % (label, n, st["VmRSS"] / 1024, st["RssAnon"] / 1024, st["RssFile"] / 1024,
                 st["VmHWM"] / 1024, st["fds"], st["Threads"]))
    print("targets (issue 20, shipped image at N=10): anonymous <= 4 MiB, RSS <= 8 MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
