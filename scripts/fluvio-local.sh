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
# Environment: FLUVIO_BIN (folder of the binaries), FLUVIO_LOCAL_DIR (state: metadata, logs, pids; default
# ~/.cache/tui-trader/fluvio-local), FLUVIO_SC_PORT (default 9003; the private port is +1), FLUVIO_SPU_PORT
# (default 9010; the private port is +1), FLUVIO_START_TIMEOUT_S (default 60).
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

start() {
  fluvio_run="$(find_bin fluvio-run)"
  fluvio="$(find_bin fluvio)"
  mkdir -p "$dir/meta" "$dir/logs"
  "$fluvio" profile add "$profile" "$endpoint" local >/dev/null
  "$fluvio" profile switch "$profile" >/dev/null
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
  if [ "$stopped" -eq 1 ]; then echo "fluvio-local: stopped"; else echo "fluvio-local: not running"; fi
}

status() {
  if running "$dir/sc.pid" && running "$dir/spu.pid"; then
    echo "fluvio-local: running at $endpoint (state in $dir)"
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
