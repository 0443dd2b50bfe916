# healthgate container image.
#
#   docker build -t healthgate:0.1.0 .          (or: podman build ...)
#   scripts/image/build.sh                      (Podman, no registry needed; see README.md)
#
# Two stages. The build stage (Debian bookworm, the release every dependency is
# packaged for) compiles only the `healthgate` target (Release, warnings as errors,
# no tests), strips it, and assembles the runtime root filesystem with
# scripts/image/rootfs.sh: the binary, the shared libraries it loads (its `ldd`
# closure and the dynamic loader), the CA bundle, OpenSSL's configuration,
# passwd/group entries for 65532 and the copyright files of the libraries' packages.
# The runtime stage is `FROM scratch` plus that tree: no shell, no package manager.
# It runs as a numeric non-root user and needs nothing writable (see "Container image"
# in README.md for /tmp).
#
# Compiler cache: when a ccache directory is mounted at /ccache during the build
# (`podman build -v "$(ccache -k cache_dir)":/ccache`), the compile goes through it.
# The build directory and flags are those of CI's release build (scripts/test.sh), so
# the cache filled by CI's own build serves the image build too.
#
# tests/packaging/dockerfile_check.sh checks this file statically (build packages
# against scripts/setup.sh, the sources CMakeLists.txt needs, the image contract) and
# starts the root filesystem rootfs.sh makes from build/healthgate in a chroot;
# tests/e2e/image_test.sh builds and runs the image.
#
# The build image is a build argument so that a mirror can be used; the default is a
# pinned release tag.
ARG BUILD_IMAGE=debian:bookworm

FROM ${BUILD_IMAGE} AS build
# The build packages of scripts/setup.sh without the test-only ones, plus the CA
# bundle the runtime image ships.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config ccache ca-certificates \
      libcpp-httplib-dev libcurl4-openssl-dev libpq-dev libhiredis-dev libuv1-dev \
      libyaml-cpp-dev prometheus-cpp-dev nlohmann-json3-dev libcli11-dev libssl-dev \
      libmicrohttpd-dev \
      libre2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt LICENSE ./
COPY cmake ./cmake
COPY common ./common
COPY probes ./probes
COPY operator ./operator
COPY scripts/image/rootfs.sh ./scripts/image/rootfs.sh
# Build jobs (empty: as many as the build tool picks).
ARG JOBS=
RUN launcher="" \
 && if [ -d /ccache ]; then \
      export CCACHE_DIR=/ccache CCACHE_BASEDIR=/src; \
      launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache"; \
    fi \
 && cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DHEALTHGATE_WERROR=ON -DHEALTHGATE_BUILD_TESTS=OFF $launcher \
 && cmake --build build --target healthgate ${JOBS:+-j $JOBS} \
 && strip --strip-unneeded build/healthgate \
 && build/healthgate --version \
 && scripts/image/rootfs.sh build/healthgate /rootfs LICENSE \
 && rm -rf build

FROM scratch
ARG VERSION=0.1.0
ARG REVISION=
ARG SOURCE_URL=
LABEL org.opencontainers.image.title="healthgate" \
      org.opencontainers.image.description="Kubernetes operator that checks the dependencies of workloads (PostgreSQL, Redis, HTTP(S), TCP) and reports them as HealthCheck status conditions, readiness URLs, pod readiness gates and Prometheus metrics" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /rootfs/ /
USER 65532:65532
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/healthgate"]
CMD ["operator"]
