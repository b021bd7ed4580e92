# Build: docker build -t restaurant-lottery .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
# The console's pages are compiled into the binary.
COPY console ./console
COPY benches ./benches
RUN cargo build --release --locked --bin restaurant-lottery

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /app --create-home lottery \
 && mkdir -p /app/data/uploads \
 && chown -R lottery /app/data
WORKDIR /app
COPY --from=build /src/target/release/restaurant-lottery /usr/local/bin/restaurant-lottery
USER lottery
# Production unless told otherwise: development mode accepts the code 123456 for any phone.
# /app/data exists and belongs to lottery, so a fresh named volume mounted there is writable.
ENV APP_ENV=production HOST=0.0.0.0 PORT=3000 LOG_FORMAT=json UPLOAD_DIR=/app/data/uploads
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD curl -fsS http://127.0.0.1:3000/health || exit 1
ENTRYPOINT ["restaurant-lottery"]
CMD ["serve"]
