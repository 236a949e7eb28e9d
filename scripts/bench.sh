#!/usr/bin/env bash
# make bench: installs the load tools and nginx when missing, then runs the
# harness. Extra flags pass through: scripts/bench.sh -rounds 5 -only TLS
# BENCH_PIN=1 is the pinned run: every process on its own cores, with
# nginx and HAProxy as the peers (bench/harness/pinned.go); under 8 cores
# the proxies get core 0 alone and the backend is a static nginx.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
pin=()
if [ "${BENCH_PIN:-0}" = 1 ]; then
  pin=(-pin)
  command -v haproxy >/dev/null || missing+=(haproxy)
  command -v taskset >/dev/null || missing+=(util-linux)
fi
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || missing+=(nginx)
command -v h2load >/dev/null || missing+=(nghttp2-client)
command -v redis-server >/dev/null || missing+=(redis-server)
# The WAF peer of the threat scenarios: nginx with ModSecurity 3 and the CRS.
[ -e /usr/lib/nginx/modules/ngx_http_modsecurity_module.so ] || missing+=(libnginx-mod-http-modsecurity)
[ -d /usr/share/modsecurity-crs/rules ] || missing+=(modsecurity-crs)
# Rampart is built as `make build` builds it: the WAF's @rx on RE2 (cgo).
pkg-config --exists re2 2>/dev/null || missing+=(libre2-dev pkg-config g++)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
[ -x .tools/vegeta ] || GOBIN="$PWD/.tools" go install github.com/tsenart/vegeta/v12@v12.13.0
mkdir -p bench/results
out="bench/results/$(date -u +%Y%m%dT%H%M%SZ).txt"
go run ./bench/harness "${pin[@]}" "$@" | tee "$out"
echo "saved to $out"
