# healthgate container image.
#
#   docker build -t healthgate:0.1.0 .
#
# Two stages on Debian bookworm, the release every dependency is packaged for:
# the build stage compiles only the `healthgate` target (no tests) and strips it;
# the runtime stage holds the binary, the shared-library packages it loads and the
# CA bundle, and runs as a numeric non-root user. Nothing in the image needs to be
# written at run time (see "Container image" in README.md for /tmp).
#
# tests/packaging/dockerfile_check.sh checks this file against the built binary
# (every library `ldd` reports is covered by the runtime packages) and against
# scripts/setup.sh (the image builds with the packages CI builds with).
#
# The base images are build arguments so that a mirror can be used; the defaults
# are pinned release tags.
ARG BUILD_IMAGE=debian:bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BUILD_IMAGE} AS build
# The build packages of scripts/setup.sh, without the test-only ones.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libcpp-httplib-dev libcurl4-openssl-dev libpq-dev libhiredis-dev libuv1-dev \
      libyaml-cpp-dev prometheus-cpp-dev nlohmann-json3-dev libcli11-dev libssl-dev \
      libmicrohttpd-dev \
      libre2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake ./cmake
COPY common ./common
COPY probes ./probes
COPY operator ./operator
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DHEALTHGATE_BUILD_TESTS=OFF \
 && cmake --build /build --target healthgate \
 && strip --strip-unneeded /build/healthgate \
 && /build/healthgate --version

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=
ARG SOURCE_URL=
LABEL org.opencontainers.image.title="healthgate" \
      org.opencontainers.image.description="Kubernetes operator that checks the dependencies of workloads (PostgreSQL, Redis, HTTP(S), TCP) and reports them as HealthCheck status conditions, readiness URLs, pod readiness gates and Prometheus metrics" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}"
# The shared libraries the binary links (their own dependencies come with them):
# libcurl4 (outbound HTTP, API client), libpq5, libhiredis0.14, libuv1,
# libyaml-cpp0.7, libprometheus-cpp-core1.0, libmicrohttpd12 (HTTP server),
# libssl3, libre2-9 (the HTTP probe's bodyRegex); ca-certificates for HTTPS probes that
# name no CA of their own.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates \
      libcurl4 libhiredis0.14 libmicrohttpd12 libpq5 libprometheus-cpp-core1.0 \
      libre2-9 libssl3 libuv1 libyaml-cpp0.7 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 healthgate \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin healthgate
COPY --from=build /build/healthgate /usr/local/bin/healthgate
USER 65532:65532
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/healthgate"]
CMD ["operator"]
