#!/usr/bin/env bash
# Proves both binaries answer --help and --version with exit 0 and the project version, and
# that a bad flag or value exits 2 with one line naming it.
set -u
d=$1 c=$2 fail=0
check() { # description, expected exit code, expected output pattern, command...
  local what=$1 code=$2 pat=$3; shift 3
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" != "$code" ] || ! grep -qE -- "$pat" <<<"$out"; then
    echo "FAIL: $what: exit $rc (want $code), output: $out"; fail=1
  else
    echo "ok: $what"
  fi
}
version=$(sed -nE 's/^project\(meshcluster VERSION ([0-9.]+).*/\1/p' "$(dirname "$0")/../../CMakeLists.txt")
check "meshclusterd --version" 0 "^meshclusterd $version\$" "$d" --version
check "meshclusterd --help lists flags" 0 "--cluster-name.*MC_CLUSTER_NAME|MC_CLUSTER_NAME" "$d" --help
check "meshclusterd --help lists --mesh-networks" 0 "--mesh-networks" "$d" --help
check "meshclusterd bad flag" 2 "^meshclusterd: unknown flag \"--nope\"" "$d" --nope
check "meshclusterd bad value" 2 "^meshclusterd: invalid value \"sometimes\" for --mesh-networks" \
  "$d" --cluster-name c1 --mesh-networks sometimes
check "meshclusterd missing cluster" 2 "cluster-name.*required" env -u MC_CLUSTER_NAME "$d"
check "meshctl --version" 0 "^meshctl $version\$" "$c" --version
check "meshctl --help" 0 "^Usage: meshctl" "$c" --help
check "meshctl unknown command" 2 "unknown command \"frobnicate\"" "$c" frobnicate
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
kubeconfig() { # server -> a kubeconfig file with a bearer token for it
  "$(dirname "$0")/../support/token-kubeconfig" "$1" "$tmp/kc"
  echo "$tmp/kc"
}
check "meshclusterd refuses a token over plain http" 1 "cleartext" \
  "$d" --cluster-name c1 --kubeconfig "$(kubeconfig http://api.example.com:8080)" \
  --health-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0

# The GnuTLS re-exec must keep the process's name: ps, ss and kernel logs show the file the
# kernel executed. Nothing listens on port 9, so the daemon stays up retrying while we look.
"$d" --cluster-name c1 --kubeconfig "$(kubeconfig https://127.0.0.1:9)" \
  --health-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 >"$tmp/log" 2>&1 &
pid=$!
comm=""
for _ in $(seq 50); do
  if grep -q '"started"' "$tmp/log" 2>/dev/null; then comm=$(cat /proc/$pid/comm); break; fi
  sleep 0.1
done
reexec=$(tr '\0' '\n' </proc/$pid/environ 2>/dev/null | grep -c '^GNUTLS_NO_IMPLICIT_INIT=1$')
kill $pid 2>/dev/null; wait $pid 2>/dev/null
if [ "$comm" = meshclusterd ] && [ "$reexec" = 1 ]; then
  echo "ok: re-executed daemon is still named meshclusterd"
else
  echo "FAIL: daemon's name after re-exec is \"$comm\" (re-exec seen: $reexec)"; cat "$tmp/log"; fail=1
fi
[ $(("$d" --nope 2>&1 | wc -l)) -eq 1 ] || { echo "FAIL: bad flag message is not one line"; fail=1; }
exit $fail
