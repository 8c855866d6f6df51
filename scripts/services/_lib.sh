# Shared by scripts/services/*: start a daemon with a pid file, stop it by that pid only.
# A pid is trusted only while /proc/PID/cmdline still names our state folder, so a pid
# reused by another process is never signalled.
set -euo pipefail

_ours() {  # _ours PID MARK: is PID alive and started with MARK on its command line?
  [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$2"
}

svc_running() {  # svc_running PIDFILE MARK
  [ -s "$1" ] && _ours "$(cat "$1")" "$2"
}

svc_stop() {  # svc_stop NAME PIDFILE MARK
  local name="$1" pidfile="$2" mark="$3" pid
  if ! svc_running "$pidfile" "$mark"; then
    rm -f "$pidfile"; echo "$name: not running" >&2; return 0
  fi
  pid="$(cat "$pidfile")"
  kill -TERM "$pid"
  for _ in $(seq 1 100); do
    _ours "$pid" "$mark" || { rm -f "$pidfile"; echo "$name: stopped (pid $pid)" >&2; return 0; }
    sleep 0.1
  done
  echo "$name: pid $pid ignored TERM for 10 s; sending KILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

wait_until() {  # wait_until SECONDS CMD...: poll CMD every 0.1 s
  local limit=$(( $1 * 10 )); shift
  for _ in $(seq 1 "$limit"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
