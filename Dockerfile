# syntax=docker/dockerfile:1
# printwarden in a container: a release build, then a distroless runtime that runs as non-root
# with its data in a volume.
#
#   docker build -t printwarden \
#     --build-arg PRINTWARDEN_BUILD_COMMIT=$(git rev-parse --short=12 HEAD) \
#     --build-arg PRINTWARDEN_BUILD_DATE=$(git log -1 --format=%cs) .
#   docker run -d --name printwarden -p 3443:3443 -p 3000:3000 -v printwarden-data:/data printwarden
#   docker logs printwarden        # the one-time setup code is printed here on first start
#
# The sealing key: mount it read-only and point PRINTWARDEN_SECRET_KEY_FILE at it
# (e.g. a Docker/Podman secret at /run/secrets/printwarden-key); otherwise one is generated
# inside the volume and Settings shows it amber until you confirm you keep a copy.
# docs/OPERATIONS.md ("Containers") has the details; tests/packaging checks this file.

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
# .git is not in the build context (.dockerignore): the build info comes from these.
ARG PRINTWARDEN_BUILD_COMMIT=unknown
ARG PRINTWARDEN_BUILD_DATE=unknown
ENV PRINTWARDEN_BUILD_COMMIT=${PRINTWARDEN_BUILD_COMMIT} \
    PRINTWARDEN_BUILD_DATE=${PRINTWARDEN_BUILD_DATE}
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin printwarden \
 && install -D -m 0755 target/release/printwarden /out/usr/local/bin/printwarden \
 && install -d -m 0700 /out/data

# distroless/cc: glibc and libgcc only; no shell, no package manager. "nonroot" is uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/usr/local/bin/printwarden /usr/local/bin/printwarden
COPY --from=build --chown=65532:65532 /out/data /data
ENV PRINTWARDEN_DATA_DIR=/data \
    PRINTWARDEN_BIND=0.0.0.0 \
    PRINTWARDEN_HTTPS_PORT=3443 \
    PRINTWARDEN_HTTP_PORT=3000
VOLUME ["/data"]
EXPOSE 3443 3000
USER 65532:65532
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/printwarden", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/printwarden"]
CMD ["serve"]
