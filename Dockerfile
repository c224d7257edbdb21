# Builds berthd, berth and berth-shim, all static: berthd and berth without
# cgo; berth-shim with cgo, linked statically against libseccomp (it applies
# Docker's seccomp profile), so the final stage needs no libraries. The
# image can run berthd privileged with /var/lib/berth and /run mounted from
# the host.
FROM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libseccomp-dev pkg-config && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN make binary

FROM debian:bookworm-slim
# igzip inflates pulled gzip layers two to three times as fast as berthd does
# in process; tini is the init of `docker run --init`.
RUN apt-get update && apt-get install -y --no-install-recommends isal tini && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/bundles/berthd /src/bundles/berth /src/bundles/berth-shim /usr/local/bin/
VOLUME /var/lib/berth
ENTRYPOINT ["/usr/local/bin/berthd"]
