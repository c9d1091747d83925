#!/usr/bin/env bash
# Proves the image's runtime root filesystem (deploy/image/assemble-rootfs: FROM scratch plus
# the binaries and exactly what they load) runs the daemon: it assembles the folder, then starts
# meshclusterd inside it with chroot as the image's non-root user, and asks its /healthz from
# outside. That exercises the dynamic loader, every ldd library and libwebsockets' libuv
# plugin, which is dlopen()ed when the health server starts and which ldd cannot see.
# Needs root for chroot; exits 77 (skipped) otherwise.
#   test_image_rootfs.sh ASSEMBLE_SCRIPT MESHCLUSTERD MESHCTL
set -uo pipefail
assemble=$1 daemon=$2 cli=$3
[ "$(id -u)" = 0 ] || { echo "skip: chroot needs root"; exit 77; }
root=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$root"; }
trap cleanup EXIT
fail=0
say() { echo "$1: $2"; [ "$1" = FAIL ] && fail=1; return 0; }

"$assemble" "$root" "$daemon" "$cli" || { echo "FAIL: assemble-rootfs failed"; exit 1; }
[ ! -e "$root/bin/sh" ] && [ ! -e "$root/usr/bin/apt-get" ] && say ok "no shell, no package manager" ||
  say FAIL "the root filesystem carries a shell or apt"
out=$(chroot --userspec=65532:65532 "$root" /usr/local/bin/meshctl --version 2>&1) &&
  say ok "meshctl runs: $out" || say FAIL "meshctl does not run in the image: $out"

# Without /dev/urandom (a bare chroot) libwebsockets 4.1 left a half-made context that crashed
# in lws_context_destroy: the daemon must refuse to start, with a line that says why.
"$(dirname "$0")/../support/token-kubeconfig" https://127.0.0.1:9 "$root/tmp/kubeconfig"
timeout 30 chroot --userspec=65532:65532 "$root" /usr/local/bin/meshclusterd --cluster-name c1 \
  --kubeconfig /tmp/kubeconfig --health-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 \
  >"$root/tmp/log-nodev" 2>&1
rc=$?
if [ "$rc" = 1 ] && grep -q '/dev/urandom is missing' "$root/tmp/log-nodev"; then
  say ok "without /dev/urandom the daemon exits 1 and says why"
else
  say FAIL "without /dev/urandom: exit $rc"; cat "$root/tmp/log-nodev"
fi

# A container runtime gives every container these device nodes; chroot does not.
mkdir -p "$root/dev"
for node in "null c 1 3" "zero c 1 5" "random c 1 8" "urandom c 1 9"; do
  set -- $node
  mknod -m 0666 "$root/dev/$1" "$2" "$3" "$4"
done

# A kubeconfig whose server refuses connections: the daemon keeps retrying, its health server up.
"$(dirname "$0")/../support/token-kubeconfig" https://127.0.0.1:9 "$root/tmp/kubeconfig"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
chroot --userspec=65532:65532 "$root" /usr/local/bin/meshclusterd --cluster-name c1 \
  --kubeconfig /tmp/kubeconfig --health-addr "127.0.0.1:$port" --metrics-addr 127.0.0.1:0 \
  >"$root/tmp/log" 2>&1 &
pid=$!
body=""
for _ in $(seq 100); do
  body=$(python3 - "$port" <<'PY' 2>/dev/null
import sys, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:%s/healthz" % sys.argv[1], timeout=2).read().decode())
PY
  ) && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ "$body" = ok ]; then
  say ok "meshclusterd serves /healthz from the image's root filesystem"
else
  say FAIL "meshclusterd in the image did not serve /healthz (got \"$body\")"; cat "$root/tmp/log"
fi
exit $fail
