# Build (docs/install.md, "Container image"):
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     --build-arg REVISION="$(git rev-parse HEAD)" -t authentik-matrix-sync .
# The build stage runs on the builder's own platform and cross-compiles for the target's, so
# `docker buildx build --platform linux/arm64 .` needs no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags "-s -w -X authentik-matrix-sync/app.Version=${VERSION}" \
      -o /out/authentik-matrix-sync ./cmd/authentik-matrix-sync

FROM alpine:3.23
# postgresql18-client brings pg_dump and pg_restore for the Postgres store's backups. pg_dump refuses
# a server of a newer major than its own, so the newest client the base offers is the one to take:
# pg_dump 18 dumps servers from 9.2 up to 18. (Alpine 3.22 stops at postgresql17-client.)
RUN apk add --no-cache ca-certificates tzdata postgresql18-client \
 && addgroup -g 1000 bot && adduser -D -H -u 1000 -G bot bot \
 && mkdir -p /app/data && chown 1000:1000 /app/data && chmod 0700 /app/data
COPY --from=build /out/authentik-matrix-sync /app/authentik-matrix-sync
WORKDIR /app
# The data volume holds the SQLite state and its backups, or the Postgres store's pg_dump backups;
# nothing else is written, so the root file system can be read-only. The image sets no settings
# of the program: the defaults (data in ./data, that is /app/data; metrics on 127.0.0.1:9100; JSON
# logs when no terminal is attached) hold unless config.yaml or the environment says otherwise.
VOLUME ["/app/data"]
USER 1000:1000
# 29333: appservice transactions (appservice mode only).
EXPOSE 29333
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["/app/authentik-matrix-sync", "healthcheck"]
# Last, so that a new version or revision reuses every layer above.
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=
LABEL org.opencontainers.image.title="authentik-matrix-sync" \
      org.opencontainers.image.description="Keeps Matrix room membership in step with Authentik groups" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="NOASSERTION" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
ENTRYPOINT ["/app/authentik-matrix-sync"]
