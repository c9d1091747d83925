#!/usr/bin/env bash
# Proves the Dockerfile's runtime stage installs every shared library the built binaries
# link against: each library ldd resolves belongs to a Debian package that the final stage
# installs, that one of those pulls in, or that every Debian image has (Priority: required).
# libwebsockets loads its libuv support as a plugin at run time, which ldd cannot see, so
# libwebsockets-evlib-uv must be named explicitly. Also checks the stage runs as non-root
# with the daemon as entrypoint.
#   test_dockerfile.sh DOCKERFILE BINARY...
set -uo pipefail
dockerfile=$1; shift
fail=0
say() { echo "$1: $2"; if [ "$1" = FAIL ]; then fail=1; fi; return 0; }

# The final stage: everything after the last FROM.
final=$(awk '/^FROM /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$dockerfile")
pkgs=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' <<<"$final" | grep -oE 'apt-get install[^&;]*' |
       sed -E 's/apt-get install//; s/(-y|--no-install-recommends)//g' | tr ' ' '\n' | grep -v '^$' | sort -u)
[ -n "$pkgs" ] && say ok "final stage installs: $(echo $pkgs)" || say FAIL "no apt-get install in the final stage"

closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
            --no-replaces --no-enhances $pkgs 2>/dev/null | grep -E '^[a-z0-9]' | sed 's/:.*//' | sort -u)

for bin in "$@"; do
  while read -r lib; do
    [ -n "$lib" ] || continue
    real=$(readlink -f "$lib")
    owner=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null)
    owner=$(head -1 <<<"$owner" | cut -d: -f1)
    if [ -z "$owner" ]; then say FAIL "$(basename "$bin"): $lib belongs to no package"; continue; fi
    prio=$(dpkg-query -W -f='${Priority}' "$owner" 2>/dev/null)
    if grep -qx "$owner" <<<"$closure" || [ "$prio" = required ]; then
      say ok "$(basename "$bin"): $(basename "$lib") from $owner"
    else
      say FAIL "$(basename "$bin"): $(basename "$lib") comes from $owner, which the final stage does not install"
    fi
  done < <(ldd "$bin" | awk '/=> \//{print $3}')
done

grep -qx 'libwebsockets-evlib-uv' <<<"$pkgs" && say ok "libwebsockets-evlib-uv (run-time plugin) is installed" ||
  say FAIL "libwebsockets-evlib-uv is missing: libwebsockets cannot run on libuv without it"
grep -qE '^USER +[1-9][0-9]*' <<<"$final" && say ok "runs as a non-root user" || say FAIL "no non-root USER in the final stage"
grep -qE '^ENTRYPOINT .*meshclusterd' <<<"$final" && say ok "meshclusterd is the entrypoint" || say FAIL "meshclusterd is not the entrypoint"
grep -qE '^FROM debian:bookworm AS' "$dockerfile" && say ok "builds on Debian bookworm" || say FAIL "build stage is not Debian bookworm"
exit $fail
