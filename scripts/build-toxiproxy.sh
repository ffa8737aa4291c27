#!/usr/bin/env bash
# Build Shopify Toxiproxy 2.8.0's server from a source checkout with Debian's Go
# packages (GOPATH mode): no Go module download is needed, which these machines
# cannot do. Usage: bash scripts/build-toxiproxy.sh SRC [OUT]
#   SRC: a checkout of github.com/Shopify/toxiproxy at v2.8.0; OUT: the binary
#   (default: ./toxiproxy-server). Then: TOXIPROXY_URL=... after starting it with
#   `OUT -port 8474 -proxy-metrics`.
set -euo pipefail
src="${1:?usage: build-toxiproxy.sh SRC [OUT]}"
out="$(realpath -m "${2:-toxiproxy-server}")"
apt-get install -y -qq golang-go golang-github-gorilla-mux-dev \
    golang-github-prometheus-client-golang-dev golang-github-rs-zerolog-dev \
    golang-github-urfave-cli-v2-dev golang-golang-x-term-dev golang-gopkg-tomb.v1-dev >/dev/null
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/github.com/Shopify/toxiproxy"
cp -r "$src" "$work/src/github.com/Shopify/toxiproxy/v2"
cd "$work/src/github.com/Shopify/toxiproxy/v2"
# Debian's zerolog (1.26) passes no program counter to CallerMarshalFunc.
sed -i 's/zerolog.CallerMarshalFunc = func(pc uintptr, file string, line int) string {/zerolog.CallerMarshalFunc = func(file string, line int) string {/' cmd/server/server.go
GO111MODULE=off GOPATH="$work:/usr/share/gocode" GOCACHE="$work/cache" \
    go build -ldflags "-X github.com/Shopify/toxiproxy/v2.Version=2.8.0" -o "$out" ./cmd/server
"$out" -version
