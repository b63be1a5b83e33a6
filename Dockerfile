# syntax=docker/dockerfile:1
#
# driftwatch container image, for those with Docker (BuildKit):
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#     -t ghcr.io/driftwatch/driftwatch:dev .
#   docker buildx build --platform linux/amd64,linux/arm64 ...   # multi-arch
#
# Without a container engine, `make image` builds an equivalent image
# (same user, entrypoint and environment) as a docker-loadable tarball with
# cmd/driftwatch-image.

# The compiler runs natively on the build machine and cross-compiles for the
# target platform (no emulation under buildx).
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
ENV GOTOOLCHAIN=local CGO_ENABLED=0
# Dependencies first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN GOOS="${TARGETOS:-linux}" GOARCH="${TARGETARCH:-amd64}" \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/driftwatch ./cmd/driftwatch

# distroless static: CA certificates, /etc/passwd with nonroot (65532),
# /tmp, no shell, no libc (the binary is static).
FROM gcr.io/distroless/static:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.source="https://github.com/driftwatch/driftwatch" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.title="driftwatch" \
      org.opencontainers.image.description="Reports how a Kubernetes cluster has drifted from the manifests in Git"
COPY --from=build /out/driftwatch /driftwatch
# Git and OpenAPI caches: writable for 65532 under /tmp (Kubernetes manifests
# in deploy/ mount an emptyDir and set XDG_CACHE_HOME=/cache instead).
ENV XDG_CACHE_HOME=/tmp/.cache
USER 65532:65532
ENTRYPOINT ["/driftwatch"]
