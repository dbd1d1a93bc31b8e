# One image for every factura service: `docker run factura <service>`.
#   docker build -t factura .
#   docker run -p 8081:8081 factura customer-service
# Stage 1 compiles the release binary; stage 2 is a slim runtime with only the binary, the
# default configuration repository and curl (for container health checks).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p factura \
 && strip target/release/factura

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data factura \
 && mkdir -p /data \
 && chown factura /data
COPY --from=build /src/target/release/factura /usr/local/bin/factura
COPY config-repo /config-repo
USER factura
WORKDIR /data
# Relaxed-binding environment variables (FACTURA_DATADIR is `factura.data-dir`).
ENV FACTURA_DATADIR=/data \
    SPRING_CLOUD_CONFIG_SERVER_NATIVE_SEARCHLOCATIONS=/config-repo
EXPOSE 8081 8082 8083 8761 8888 9999
ENTRYPOINT ["factura", "run"]
CMD ["customer-service"]
