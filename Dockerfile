# Builds berthd, berth and berth-shim. berthd and berth are static; berth-shim
# is a cgo binary linked against libseccomp (it applies Docker's seccomp
# profile), so the final stage carries libseccomp2. The image can run berthd
# privileged with /var/lib/berth and /run mounted from the host.
FROM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libseccomp-dev pkg-config && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN make binary

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libseccomp2 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/bundles/berthd /src/bundles/berth /src/bundles/berth-shim /usr/local/bin/
VOLUME /var/lib/berth
ENTRYPOINT ["/usr/local/bin/berthd"]
