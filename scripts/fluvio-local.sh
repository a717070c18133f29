#!/usr/bin/env bash
# A Fluvio cluster on loopback for development and tests: one SC and one SPU, started from the `fluvio-run`
# and `fluvio` binaries found in $FLUVIO_BIN or on PATH (the Fluvio project's installer puts them in
# ~/.fluvio/bin; they can also be built from the Fluvio source with `cargo build --release -p fluvio-run
# -p fluvio-cli`).
#
#   scripts/fluvio-local.sh start    start SC + SPU, register the SPU, add and select the profile
#                                    "tui-trader-local-<SC port>", wait until a topic can be listed; prints the endpoint
#   scripts/fluvio-local.sh stop     stop what `start` started (only those processes)
#   scripts/fluvio-local.sh status   say whether it runs and where
#
# Quick ACKs: Fluvio's SPU and client leave Nagle's algorithm on (neither sets TCP_NODELAY), so while records
# flow, each small write waits until the peer acknowledges the previous one, and Linux delays an ACK by up to
# 40 ms: every hop between processes then costs ~40-90 ms (p99 receipt -> signal ~140 ms at 5,000 msgs/s;
# ~8 ms with quick ACKs). On Linux, `start` therefore turns on `quickack 1` on the loopback route
# 127.0.0.1 (the route attribute of ip-route(8): ACKs go out at once) when it may (root or CAP_NET_ADMIN),
# and `stop` restores the route if `start` changed it. FLUVIO_QUICKACK=0 leaves the route alone.
#
# Environment: FLUVIO_BIN (folder of the binaries), FLUVIO_LOCAL_DIR (state: metadata, logs, pids; default
# ~/.cache/tui-trader/fluvio-local), FLUVIO_SC_PORT (default 9003; the private port is +1), FLUVIO_SPU_PORT
# (default 9010; the private port is +1), FLUVIO_START_TIMEOUT_S (default 60), FLUVIO_QUICKACK (default 1).
set -euo pipefail

dir="${FLUVIO_LOCAL_DIR:-$HOME/.cache/tui-trader/fluvio-local}"
sc_port="${FLUVIO_SC_PORT:-9003}"
spu_port="${FLUVIO_SPU_PORT:-9010}"
timeout_s="${FLUVIO_START_TIMEOUT_S:-60}"
spu_id=5001
profile="tui-trader-local-${sc_port}"
endpoint="127.0.0.1:${sc_port}"

find_bin() {
  local name="$1"
  if [ -n "${FLUVIO_BIN:-}" ] && [ -x "$FLUVIO_BIN/$name" ]; then
    echo "$FLUVIO_BIN/$name"
  elif command -v "$name" >/dev/null 2>&1; then
    command -v "$name"
  elif [ -x "$HOME/.fluvio/bin/$name" ]; then
    echo "$HOME/.fluvio/bin/$name"
  else
    echo "fluvio-local: '$name' not found in \$FLUVIO_BIN, on PATH or in ~/.fluvio/bin" >&2
    return 1
  fi
}

running() {  # running <pidfile>: the process it names is alive
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

cluster_answers() {
  "$fluvio" topic list >/dev/null 2>&1
}

spu_online() {
  "$fluvio" cluster spu list 2>/dev/null | grep -q "Online"
}

wait_for() {  # wait_for <what> <command...>: poll until the command succeeds or the timeout passes
  local what="$1"; shift
  local deadline=$((SECONDS + timeout_s))
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "fluvio-local: $what not ready after ${timeout_s}s (logs in $dir)" >&2
      return 1
    fi
    sleep 0.5
  done
}

set_aside_damaged_metadata() {
  # An SC stopped in the middle of writing leaves an empty metadata file; the SC then fails its whole
  # reconciliation loop on it every 10 s and every topic create times out after 60 s. Such a file holds
  # nothing, so it is moved aside (the SC rebuilds a partition's record from its topic's).
  local damaged
  damaged="$(find "$dir/meta" -name '*.yaml' -size 0 2>/dev/null || true)"
  [ -z "$damaged" ] && return 0
  mkdir -p "$dir/meta-damaged"
  while IFS= read -r file; do
    echo "fluvio-local: empty metadata file $file (an SC stopped mid-write) moved to $dir/meta-damaged" >&2
    mv "$file" "$dir/meta-damaged/$(basename "$(dirname "$file")")-$(basename "$file")"
  done <<<"$damaged"
}

loopback_route() {  # the loopback route of 127.0.0.1 as `ip route show` prints it, without its quickack
  ip route show table local exact 127.0.0.1 2>/dev/null | head -n 1 | sed -e 's/ quickack [01]//' -e 's/ *$//'
}

quickack_on() {
  ip route get 127.0.0.1 2>/dev/null | grep -q "quickack 1"
}

quick_acks() {  # turn quick ACKs on for loopback, or say why not and what that costs
  [ "${FLUVIO_QUICKACK:-1}" = "0" ] && return 0
  if ! command -v ip >/dev/null 2>&1; then
    echo "fluvio-local: no 'ip' command: cannot check quick ACKs on loopback (each hop may wait ~40 ms for a delayed ACK)" >&2
    return 0
  fi
  quickack_on && return 0
  local route
  route="$(loopback_route)"
  # shellcheck disable=SC2086  # the route's words are ip's arguments
  if [ -n "$route" ] && ip route change $route table local quickack 1 2>/dev/null && quickack_on; then
    echo "$route" >"$dir/quickack-route"
    echo "fluvio-local: quick ACKs turned on for 127.0.0.1 (restored by stop)"
  else
    echo "fluvio-local: could not turn on quick ACKs for 127.0.0.1 (needs root or CAP_NET_ADMIN): each hop between processes waits ~40 ms for a delayed ACK; as root: ip route change ${route:-local 127.0.0.1 dev lo} table local quickack 1" >&2
  fi
}

restore_route() {
  [ -f "$dir/quickack-route" ] || return 0
  # shellcheck disable=SC2086
  if ip route change $(cat "$dir/quickack-route") table local 2>/dev/null; then
    echo "fluvio-local: loopback route restored (quick ACKs off)"
  fi
  rm -f "$dir/quickack-route"
}

start() {
  fluvio_run="$(find_bin fluvio-run)"
  fluvio="$(find_bin fluvio)"
  mkdir -p "$dir/meta" "$dir/logs"
  "$fluvio" profile add "$profile" "$endpoint" local >/dev/null
  "$fluvio" profile switch "$profile" >/dev/null
  quick_acks
  if running "$dir/sc.pid" && running "$dir/spu.pid"; then
    echo "fluvio-local: already running at $endpoint"
    return 0
  fi
  if ! running "$dir/sc.pid"; then
    set_aside_damaged_metadata
    nohup "$fluvio_run" sc --local "$dir/meta" --bind-public "127.0.0.1:${sc_port}" \
      --bind-private "127.0.0.1:$((sc_port + 1))" >"$dir/logs/sc.log" 2>&1 &
    echo $! >"$dir/sc.pid"
  fi
  wait_for "the SC at $endpoint" cluster_answers
  if ! "$fluvio" cluster spu list 2>/dev/null | grep -q "$spu_id"; then
    "$fluvio" cluster spu register --id "$spu_id" --public-server "127.0.0.1:${spu_port}" \
      --private-server "127.0.0.1:$((spu_port + 1))" >/dev/null
  fi
  if ! running "$dir/spu.pid"; then
    nohup "$fluvio_run" spu -i "$spu_id" -p "127.0.0.1:${spu_port}" -v "127.0.0.1:$((spu_port + 1))" \
      --sc-addr "127.0.0.1:$((sc_port + 1))" --log-base-dir "$dir/spu-data" >"$dir/logs/spu.log" 2>&1 &
    echo $! >"$dir/spu.pid"
  fi
  wait_for "the SPU $spu_id" spu_online
  echo "fluvio-local: running at $endpoint (profile $profile; state in $dir)"
}

stop() {
  local stopped=0
  for name in spu sc; do
    if running "$dir/$name.pid"; then
      kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
      stopped=1
    fi
    rm -f "$dir/$name.pid"
  done
  restore_route
  if [ "$stopped" -eq 1 ]; then echo "fluvio-local: stopped"; else echo "fluvio-local: not running"; fi
}

status() {
  if running "$dir/sc.pid" && running "$dir/spu.pid"; then
    local acks="quick ACKs on loopback: off (each hop may wait ~40 ms for a delayed ACK)"
    if command -v ip >/dev/null 2>&1 && quickack_on; then acks="quick ACKs on loopback: on"; fi
    echo "fluvio-local: running at $endpoint (state in $dir; $acks)"
  else
    echo "fluvio-local: not running"
    return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
