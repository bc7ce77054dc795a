#!/usr/bin/env bash
# Push then pull a multi-layer image (default 500 MB in 5 layers) through
# Wharf's registry and through Debian's docker-registry (CNCF distribution)
# on the same machine, in the same run, and print both with the ratio.
#
#   bench/registry/run.sh [SIZE_MB] [LAYERS]
#
# Needs a Docker Engine and the docker-registry package (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mb=${1:-500}
layers=${2:-5}
work=$(mktemp -d -t wharf-bench-registry.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  docker rmi -f "wharf-bench/big:1" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

./scripts/ensure-docker
if ! command -v docker-registry >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >/dev/null
fi
go build -o "$work/wharf" ./cmd/wharf

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wport=$(free_port); rport=$(free_port)

# Wharf, with an account whose keys log docker in.
WHARF_ROOT_ACCESS_KEY_ID=AKIABENCHROOT0000001 WHARF_ROOT_SECRET_ACCESS_KEY=bench-secret-0123456789abcdef \
  "$work/wharf" server --addr "127.0.0.1:$wport" --data-dir "$work/wharf-data" >"$work/wharf.log" 2>&1 &
pids+=($!)
# docker-registry with filesystem storage on the same disk.
cat >"$work/registry.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $work/registry-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$rport
log:
  level: error
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$wport/healthz" >/dev/null 2>&1 && curl -fs "http://127.0.0.1:$rport/v2/" >/dev/null 2>&1 && break
  sleep 0.2
done
export DOCKER_CONFIG="$work/docker-config"
docker login "127.0.0.1:$wport" -u AKIABENCHROOT0000001 -p bench-secret-0123456789abcdef >/dev/null 2>&1

# The image: LAYERS layers of random data.
mkdir -p "$work/ctx"
per=$((size_mb / layers))
{ echo "FROM scratch"; for i in $(seq 1 "$layers"); do
    head -c "$((per << 20))" /dev/urandom >"$work/ctx/layer$i.bin"; echo "COPY layer$i.bin /data/layer$i.bin"; done; } >"$work/ctx/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t wharf-bench/big:1 "$work/ctx" >/dev/null
rm -rf "$work/ctx"

now() { date +%s.%N; }
measure() { # measure HOST: push, drop the image locally, pull; prints "push pull" seconds
  local ref="$1/big:1"
  docker tag wharf-bench/big:1 "$ref"
  local t0; t0=$(now); docker push "$ref" >/dev/null; local t1; t1=$(now)
  docker rmi -f "$ref" wharf-bench/big:1 >/dev/null
  local t2; t2=$(now); docker pull "$ref" >/dev/null; local t3; t3=$(now)
  docker tag "$ref" wharf-bench/big:1; docker rmi "$ref" >/dev/null
  echo "$(echo "$t1 - $t0" | bc) $(echo "$t3 - $t2" | bc)"
}
read -r rpush rpull < <(measure "127.0.0.1:$rport")
read -r wpush wpull < <(measure "127.0.0.1:$wport")
printf '\nPush then pull of a %d MB image in %d layers (same machine, same run)\n' "$size_mb" "$layers"
printf '%-8s %14s %14s\n' "" "docker-registry" "wharf"
printf '%-8s %13.2fs %13.2fs   ratio (registry time / wharf time) %.2f\n' push "$rpush" "$wpush" "$(echo "$rpush / $wpush" | bc -l)"
printf '%-8s %13.2fs %13.2fs   ratio %.2f\n' pull "$rpull" "$wpull" "$(echo "$rpull / $wpull" | bc -l)"
