#!/usr/bin/env bash
# Proves the Dockerfile's shape: every base image is pinned by digest (or is scratch); the
# build stage installs, as Debian packages, every shared library the built binaries link
# against (each library ldd resolves belongs to a package the build stage installs, one those
# pull in, or one every Debian image has) and libwebsockets' libuv plugin, which ldd cannot see;
# the runtime stage is FROM scratch plus the folder deploy/image/assemble-rootfs gathers, runs
# as a non-root user with the daemon as entrypoint. test_image_rootfs.sh runs that folder.
#   test_dockerfile.sh DOCKERFILE BINARY...
set -uo pipefail
dockerfile=$1; shift
fail=0
say() { echo "$1: $2"; if [ "$1" = FAIL ]; then fail=1; fi; return 0; }

# Resolve ARG defaults used in FROM lines, then check each base.
while read -r from; do
  image=$(awk '{print $2}' <<<"$from")
  if [[ $image =~ ^\$\{?([A-Z_]+)\}?$ ]]; then
    image=$(sed -nE "s/^ARG ${BASH_REMATCH[1]}=(.*)/\1/p" "$dockerfile" | head -n1)
  fi
  if [ "$image" = scratch ] || [[ $image =~ @sha256:[0-9a-f]{64}$ ]]; then
    say ok "base image pinned: $image"
  else
    say FAIL "base image \"$image\" is not pinned by digest"
  fi
done < <(grep -E '^FROM ' "$dockerfile")

stage() { # N -> the text of the Nth stage (1-based)
  awk -v n="$1" '/^FROM /{i++} i==n' "$dockerfile"
}
nstages=$(grep -cE '^FROM ' "$dockerfile")
build=$(stage 1) final=$(stage "$nstages")
grep -qE '^FROM (debian:bookworm|\$\{BUILD_IMAGE\})' <<<"$build" && grep -qE '^ARG BUILD_IMAGE=debian:bookworm@' "$dockerfile" &&
  say ok "builds on Debian bookworm" || say FAIL "build stage is not Debian bookworm"
pkgs=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' <<<"$build" | grep -oE 'apt-get install[^&;]*' |
       sed -E 's/apt-get install//; s/(-y|--no-install-recommends)//g' | tr ' ' '\n' | grep -v '^$' | sort -u)
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
      say FAIL "$(basename "$bin"): $(basename "$lib") comes from $owner, which the build stage does not install"
    fi
  done < <(ldd "$bin" | awk '/=> \//{print $3}')
done
grep -qx 'libwebsockets-evlib-uv' <<<"$pkgs" && say ok "libwebsockets-evlib-uv (run-time plugin) is installed" ||
  say FAIL "libwebsockets-evlib-uv is missing: libwebsockets cannot run on libuv without it"
grep -q 'deploy/image/assemble-rootfs /rootfs' <<<"$build" && say ok "build stage assembles the runtime folder" ||
  say FAIL "build stage does not run deploy/image/assemble-rootfs"

grep -qE '^FROM scratch' <<<"$final" && grep -qE '^COPY --from=build /rootfs/ /' <<<"$final" &&
  say ok "runtime stage is scratch plus the assembled folder" || say FAIL "runtime stage is not scratch + /rootfs"
grep -qE '^USER +[1-9][0-9]*' <<<"$final" && say ok "runs as a non-root user" || say FAIL "no non-root USER in the final stage"
grep -qE '^ENTRYPOINT .*meshclusterd' <<<"$final" && say ok "meshclusterd is the entrypoint" || say FAIL "meshclusterd is not the entrypoint"
exit $fail
