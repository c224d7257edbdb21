# Builds berthd and berth. The binaries are static (no cgo yet); the final
# stage is a small Debian image that can run berthd privileged with
# /var/lib/berth and /run mounted from the host.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN make binary

FROM debian:bookworm-slim
COPY --from=build /src/bundles/berthd /src/bundles/berth /usr/local/bin/
VOLUME /var/lib/berth
ENTRYPOINT ["/usr/local/bin/berthd"]
