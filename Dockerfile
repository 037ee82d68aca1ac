# syntax=docker/dockerfile:1.7
# authgate: multi-stage build, small non-root runtime with a self-contained healthcheck.

FROM rust:1.95-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, in their own layer: rebuilt only when Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && cargo build --release --locked --bin authgate \
 && rm -rf src
COPY src ./src
COPY migrations ./migrations
COPY openapi.yml diesel.toml ./
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin authgate

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin authgate \
 && mkdir -p /data && chown authgate /data
COPY --from=build /src/target/release/authgate /usr/local/bin/authgate
LABEL org.opencontainers.image.title="authgate" \
      org.opencontainers.image.description="Stateless JWT authentication service" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
USER 10001:10001
WORKDIR /data
ENV AUTHGATE_LISTEN=0.0.0.0:8080 \
    AUTHGATE_DATABASE_URL=sqlite:///data/authgate.db \
    AUTHGATE_LOG_FORMAT=json
EXPOSE 8080
VOLUME ["/data"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 CMD ["authgate", "healthcheck"]
ENTRYPOINT ["authgate"]
CMD ["serve"]
