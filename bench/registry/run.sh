#!/usr/bin/env bash
# Push then pull a multi-layer image (default 500 MB in 5 layers) through
# Wharf's registry and through Debian's docker-registry (CNCF distribution)
# on the same machine, in the same run, and print both with the ratio.
#
#   bench/registry/run.sh [SIZE_MB] [LAYERS]
#   ROUNDS=5 bench/registry/run.sh      # rounds (default 3)
#
# Each round starts both registries afresh (new storage, new ports, so
# nothing is already there or mountable) and measures them one after the
# other, alternating which goes first. It prints every round, then the
# medians and their ratio. Besides wall time it reports the CPU time the
# registry process used during the push: on a busy machine that varies far
# less than wall time, and it is the server's own work.
#
# Needs a Docker Engine and the docker-registry package (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mb=${1:-500}
layers=${2:-5}
rounds=${ROUNDS:-3}
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
export DOCKER_CONFIG="$work/docker-config"

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_up() { # URL
  for _ in $(seq 1 150); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "$1 did not come up" >&2; return 1
}
# cpu PID: user+system CPU seconds the process has used so far.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }

start_wharf() { # sets wport, wpid
  wport=$(free_port)
  WHARF_ROOT_ACCESS_KEY_ID=AKIABENCHROOT0000001 WHARF_ROOT_SECRET_ACCESS_KEY=bench-secret-0123456789abcdef \
    "$work/wharf" server --addr "127.0.0.1:$wport" --data-dir "$work/wharf-data.$wport" >"$work/wharf.$wport.log" 2>&1 &
  wpid=$!; pids+=("$wpid")
  wait_up "http://127.0.0.1:$wport/healthz"
  docker login "127.0.0.1:$wport" -u AKIABENCHROOT0000001 -p bench-secret-0123456789abcdef >/dev/null 2>&1
}
start_registry() { # sets rport, rpid; filesystem storage on the same disk
  rport=$(free_port)
  cat >"$work/registry.$rport.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $work/registry-data.$rport
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$rport
log:
  level: error
YML
  docker-registry serve "$work/registry.$rport.yml" >"$work/registry.$rport.log" 2>&1 &
  rpid=$!; pids+=("$rpid")
  wait_up "http://127.0.0.1:$rport/v2/"
}
stop() { # PID DATADIR
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local keep=() p
  for p in "${pids[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  pids=("${keep[@]}")
  rm -rf "$2"
}

# The image: LAYERS layers of random data.
mkdir -p "$work/ctx"
per=$((size_mb / layers))
{ echo "FROM scratch"; for i in $(seq 1 "$layers"); do
    head -c "$((per << 20))" /dev/urandom >"$work/ctx/layer$i.bin"; echo "COPY layer$i.bin /data/layer$i.bin"; done; } >"$work/ctx/Dockerfile"
if ! DOCKER_BUILDKIT=0 docker build -q -t wharf-bench/big:1 "$work/ctx" >"$work/build.log" 2>&1; then
  cat "$work/build.log" >&2; exit 1
fi
rm -rf "$work/ctx"

now() { date +%s.%N; }
measure() { # measure HOST PID: push, drop the image locally, pull; prints "push pull push-cpu" seconds
  local ref="$1/big:1"
  docker tag wharf-bench/big:1 "$ref"
  local c0; c0=$(cpu "$2")
  local t0; t0=$(now); docker push "$ref" >/dev/null; local t1; t1=$(now)
  local c1; c1=$(cpu "$2")
  docker rmi -f "$ref" wharf-bench/big:1 >/dev/null
  local t2; t2=$(now); docker pull "$ref" >/dev/null; local t3; t3=$(now)
  docker tag "$ref" wharf-bench/big:1; docker rmi "$ref" >/dev/null
  echo "$(echo "$t1 - $t0" | bc) $(echo "$t3 - $t2" | bc) $(echo "$c1 - $c0" | bc)"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

printf '\nPush then pull of a %d MB image in %d layers (same machine, same run), %d rounds\n' "$size_mb" "$layers" "$rounds"
printf '%-6s %-16s %9s %9s %9s   %-6s %9s %9s %9s\n' round first "reg push" "reg pull" "reg cpu" "" "wh push" "wh pull" "wh cpu"
: >"$work/results"
for round in $(seq 1 "$rounds"); do
  start_registry; start_wharf
  if ((round % 2)); then
    first=docker-registry
    r=$(measure "127.0.0.1:$rport" "$rpid"); w=$(measure "127.0.0.1:$wport" "$wpid")
  else
    first=wharf
    w=$(measure "127.0.0.1:$wport" "$wpid"); r=$(measure "127.0.0.1:$rport" "$rpid")
  fi
  read -r rpush rpull rcpu <<<"$r"; read -r wpush wpull wcpu <<<"$w"
  stop "$rpid" "$work/registry-data.$rport"; stop "$wpid" "$work/wharf-data.$wport"
  echo "$rpush $rpull $rcpu $wpush $wpull $wcpu" >>"$work/results"
  printf '%-6d %-16s %8.2fs %8.2fs %8.2fs   %-6s %8.2fs %8.2fs %8.2fs\n' "$round" "$first" "$rpush" "$rpull" "$rcpu" "" "$wpush" "$wpull" "$wcpu"
done

col() { awk -v c="$1" '{print $c}' "$work/results" | median; }
rpush=$(col 1); rpull=$(col 2); rcpu=$(col 3); wpush=$(col 4); wpull=$(col 5); wcpu=$(col 6)
printf '\nMedians           %15s %13s   ratio (registry / wharf)\n' docker-registry wharf
printf '%-17s %14.2fs %12.2fs   %.2f\n' push "$rpush" "$wpush" "$(echo "$rpush / $wpush" | bc -l)"
printf '%-17s %14.2fs %12.2fs   %.2f\n' pull "$rpull" "$wpull" "$(echo "$rpull / $wpull" | bc -l)"
printf '%-17s %14.2fs %12.2fs   %.2f\n' "server CPU, push" "$rcpu" "$wcpu" "$(echo "$rcpu / $wcpu" | bc -l)"
