# syntax=docker/dockerfile:1
# The Latchkey image: the static latchkey binary on an empty base, run as
# uid 65532, with its SQLite database on the /data volume.
#
#   docker build -t ghcr.io/latchkey-dev/latchkey:1.4.0 \
#     --build-arg VERSION=1.4.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg REVISION_TIME="$(git log -1 --format=%cI)" .
#   docker run -p 8080:8080 -v latchkey:/data ghcr.io/latchkey-dev/latchkey:1.4.0
#
# Without a Docker daemon, `go run ./internal/tools/image -tag …` builds the
# same image (same binary flags, files and config) as a tarball for
# `docker load`, `podman load` or `crane push`; internal/tools/image/
# dockerfile_test.go checks that this file declares what that builder writes.
# See docs/infrastructure.md, "Containers".

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
ARG REVISION_TIME=unknown
ARG MODIFIED=false
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=linux GOARCH=${TARGETARCH} go build -trimpath -buildvcs=false \
      -ldflags="-s -w -X main.version=${VERSION} -X main.revision=${REVISION} -X main.revisionTime=${REVISION_TIME} -X main.modified=${MODIFIED}" \
      -o /out/latchkey ./cmd/latchkey \
 && install -d -m 0700 /out/data

FROM scratch
ARG VERSION=dev
ARG REVISION=unknown
ARG REVISION_TIME=unknown
ARG LICENSES=NOASSERTION
COPY --from=build /out/latchkey /latchkey
COPY --from=build --chown=65532:65532 --chmod=0700 /out/data /data
USER 65532:65532
# /metrics on a port of its own, not exposed: never on the published 8080.
# SQLite's temporary files (an index build or a large sort, as in a
# migration over a big table) on the volume: the image has no /tmp.
ENV DATABASE_URL=sqlite:///data/latchkey.db HTTP_ADDR=:8080 METRICS_ADDR=:9090 SQLITE_TMPDIR=/data
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["/latchkey", "healthcheck"]
LABEL org.opencontainers.image.title="latchkey" \
      org.opencontainers.image.description="Latchkey token service: sign-in, short-lived JWT access tokens, rotating refresh tokens" \
      org.opencontainers.image.source="https://github.com/latchkey-dev/latchkey" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${REVISION_TIME}" \
      org.opencontainers.image.licenses="${LICENSES}"
ENTRYPOINT ["/latchkey"]
CMD ["serve"]
