# syntax=docker/dockerfile:1
# Build with the project's own CMake on Debian bookworm, then ship FROM scratch: the runtime
# stage holds only the two binaries and exactly the shared libraries they load, gathered by
# deploy/image/assemble-rootfs (ldd's closure, the dynamic loader, libwebsockets' libuv plugin
# that is dlopen()ed and so invisible to ldd, the CA bundle, a passwd entry for UID 65532).
# No shell, no package manager, no base image to patch: the libraries come from the build
# stage's Debian packages, so a rebuild picks up Debian's security updates.
#
# The build image is pinned by digest so a rebuild of the same commit starts from the same
# bytes. Refresh it deliberately: docker buildx imagetools inspect debian:bookworm
ARG BUILD_IMAGE=debian:bookworm@sha256:2c037a04925515fdd6ea85ea14a682d0e79931f5e9f5d07b6dbfc6ba12f9e858

FROM ${BUILD_IMAGE} AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config ca-certificates \
      libcurl4-openssl-dev libcjson-dev libssl-dev libuv1-dev libyaml-dev \
      libwebsockets-dev libwebsockets-evlib-uv \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmd cmd
COPY k8s k8s
COPY controller controller
COPY pki pki
COPY deploy/image deploy/image
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMC_TESTS=OFF -DMC_BENCH=OFF \
    && cmake --build build -j"$(nproc)" \
    && strip build/meshclusterd build/meshctl \
    && deploy/image/assemble-rootfs /rootfs build/meshclusterd build/meshctl

FROM scratch
COPY --from=build /rootfs/ /
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/meshclusterd"]
