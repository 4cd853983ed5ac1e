# syntax=docker/dockerfile:1
#
# Keyhold images, built from this workspace in one builder stage (BuildKit needed: it is the
# default builder since Docker 23):
#   docker build -t keyhold .                                     # the vault: `keyhold serve|worker|...`
#   docker build --target auth0-emulator -t keyhold-auth0-emulator .   # the local Auth0, demos only
# docker-compose.yml builds both. Both run as uid/gid 10001, never root.

ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the registry and incremental target dir between builds without a
# dependency-only stage that would have to mirror every crate's layout. The binaries are copied
# out because the target dir is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p keyhold -p auth0-emulator \
    && install -D -m 0755 target/release/keyhold /out/keyhold \
    && install -D -m 0755 target/release/auth0-emulator /out/auth0-emulator

# Slim Debian rather than distroless: the same glibc as the builder, and bash for the compose
# health checks (the image has no curl).
FROM ${RUNTIME_IMAGE} AS runtime
# ca-certificates: Auth0 is reached over HTTPS checked against the system roots.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 keyhold \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin keyhold
USER 10001:10001
WORKDIR /

FROM runtime AS auth0-emulator
COPY --from=builder /out/auth0-emulator /usr/local/bin/auth0-emulator
ENV AUTH0_EMULATOR_LISTEN=0.0.0.0:4000
EXPOSE 4000
ENTRYPOINT ["auth0-emulator"]

# Last, so it is what a plain `docker build .` produces.
FROM runtime AS keyhold
COPY --from=builder /out/keyhold /usr/local/bin/keyhold
# Inside a container the loopback default would be unreachable; publish the port to choose who
# can connect.
ENV KEYHOLD_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["keyhold"]
CMD ["serve"]
