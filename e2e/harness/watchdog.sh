#!/usr/bin/env bash
# Usage: watchdog.sh <parent-pid> <command> [args...]
#
# Runs <command> so that it can never outlive <parent-pid> (the Node process that owns the
# harness), even when that process is SIGKILLed and gets no chance to clean up:
#  - the watchdog leads its own process group (Node spawns it detached, and it re-execs itself
#    through setsid if not), and the command runs inside that group with everything it forks;
#  - once a second it checks the parent; when the parent is gone (or a zombie), it stops the
#    command exactly like a normal stop;
#  - on SIGTERM/SIGINT/SIGHUP (the harness's normal teardown) it sends WATCHDOG_STOP_SIGNAL
#    (default TERM; postgres wants INT = fast shutdown) to the command, waits up to
#    WATCHDOG_GRACE_SECONDS (default 5), then SIGKILLs the whole group, itself included, so no
#    grandchild (postgres backends, for one) survives.
# When the command exits by itself, the watchdog exits with its status.
set -u

read -r self_stat < /proc/$$/stat
fields=(${self_stat##*) })     # after "(comm)": state ppid pgrp ...
if [ "${fields[2]}" != "$$" ]; then
  exec setsid "$BASH" "$0" "$@"
fi

parent="$1"; shift
stop_signal="${WATCHDOG_STOP_SIGNAL:-TERM}"
grace="${WATCHDOG_GRACE_SECONDS:-5}"

parent_alive() {
  local stat rest
  read -r stat 2>/dev/null < "/proc/$parent/stat" || return 1
  rest="${stat##*) }"
  [ "${rest:0:1}" != "Z" ]
}

"$@" &
child=$!

stop() {
  trap '' TERM INT HUP
  echo "watchdog: $1; sending SIG$stop_signal to $child" >&2
  kill -s "$stop_signal" "$child" 2>/dev/null
  local i
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$child" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$child" 2>/dev/null && echo "watchdog: $child still running after ${grace}s; SIGKILL" >&2
  kill -KILL 0
}
trap 'stop "stop requested"' TERM INT HUP

while kill -0 "$child" 2>/dev/null; do
  parent_alive || stop "parent $parent is gone"
  sleep 1 &
  wait $! 2>/dev/null
done
wait "$child"
status=$?
# Stragglers the command left in the group (and the last sleep), sparing ourselves to keep the status.
for pid in $(pgrep -g "$$"); do
  [ "$pid" = "$$" ] || kill -KILL "$pid" 2>/dev/null
done
exit "$status"
