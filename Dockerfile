# syntax=docker/dockerfile:1
# Build with the project's own CMake on Debian bookworm; run on slim bookworm with only
# the runtime libraries, as a non-root user. libwebsockets loads its libuv support as a
# plugin at run time (libwebsockets-evlib-uv), which ldd does not show, so it is named here.

FROM debian:bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config ca-certificates \
      libcurl4-openssl-dev libcjson-dev libssl-dev libuv1-dev libyaml-dev \
      libwebsockets-dev libcmocka-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmd cmd
COPY k8s k8s
COPY controller controller
COPY pki pki
COPY tests tests
COPY bench bench
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMC_TESTS=OFF -DMC_BENCH=OFF \
    && cmake --build build -j"$(nproc)" \
    && strip build/meshclusterd build/meshctl

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      ca-certificates libcurl4 libcjson1 libssl3 libuv1 libyaml-0-2 \
      libwebsockets17 libwebsockets-evlib-uv \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 65532 --no-create-home --shell /usr/sbin/nologin meshcluster
COPY --from=build /src/build/meshclusterd /src/build/meshctl /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/meshclusterd"]
