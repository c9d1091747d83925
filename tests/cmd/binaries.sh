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
[ $(("$d" --nope 2>&1 | wc -l)) -eq 1 ] || { echo "FAIL: bad flag message is not one line"; fail=1; }
exit $fail
