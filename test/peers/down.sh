#!/usr/bin/env bash
# Stops exactly the peers that up.sh started in STATE_DIR, and nothing else: Postfix through
# its own config dir, knotd and unbound by the pid in their pid files, and only after checking
# that the process behind that pid really runs with this STATE_DIR's config (a stale pid file
# may name a pid the kernel has since given to another process). Idempotent.
#
# Usage: down.sh STATE_DIR      (the state dir is kept: logs, Maildirs; delete it yourself)
set -uo pipefail

log() { printf 'peers/down: %s\n' "$*" >&2; }
STATE_DIR=${1:?usage: down.sh STATE_DIR}
[ -d "$STATE_DIR" ] || { log "$STATE_DIR does not exist: nothing to stop"; exit 0; }
STATE_DIR=$(cd "$STATE_DIR" && pwd)
PE=$STATE_DIR/postfix/etc

# Pids of the processes whose environment carries MAIL_CONFIG=$PE: the Postfix master and
# every daemon it spawned (MAIL_CONFIG is in Postfix's import_environment), and no other.
postfix_pids() {
  local d pid
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    if grep -qxzF "MAIL_CONFIG=$PE" "$d/environ" 2>/dev/null; then
      echo "$pid"
    fi
  done
}

# Does pid $1 run with $2 on its command line?
runs_with() {
  grep -qxzF "$2" "/proc/$1/cmdline" 2>/dev/null
}

# Is pid $1 a live process? An exited one may linger as a zombie until its parent (often
# PID 1, which in some containers reaps late) collects it: that counts as gone.
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# wait_gone PID...: up to ~5 s for all of them to exit; prints the survivors.
wait_gone() {
  local i p survivors
  for i in $(seq 1 50); do
    survivors=()
    for p in "$@"; do alive "$p" && survivors+=("$p"); done
    [ "${#survivors[@]}" = 0 ] && return 0
    sleep 0.1
  done
  echo "${survivors[@]}"
}

rc=0

if [ -f "$PE/main.cf" ]; then
  if postfix -c "$PE" status >/dev/null 2>&1; then
    # abort, not stop: the test peers hold no mail worth a graceful shutdown, and smtpd
    # processes with an idle client would otherwise linger.
    postfix -c "$PE" abort >/dev/null 2>&1 || log "postfix abort failed"
  fi
  mapfile -t pids < <(postfix_pids)
  if [ "${#pids[@]}" -gt 0 ]; then
    left=$(wait_gone "${pids[@]}")
    if [ -n "$left" ]; then
      log "killing Postfix processes that outlived the master: $left"
      # shellcheck disable=SC2086
      kill -KILL $left 2>/dev/null
    fi
  fi
  [ -z "$(postfix_pids)" ] || { log "Postfix processes still running"; rc=1; }
fi

# stop_daemon NAME PIDFILE CONFIG: TERM the pid if it runs with CONFIG, then KILL if it stays.
stop_daemon() {
  local name=$1 pidfile=$2 conf=$3 pid left
  [ -s "$pidfile" ] || return 0
  pid=$(tr -dc '0-9' <"$pidfile")
  if [ -n "$pid" ] && runs_with "$pid" "$conf"; then
    kill -TERM "$pid" 2>/dev/null
    left=$(wait_gone "$pid")
    if [ -n "$left" ]; then
      log "$name ($pid) ignored TERM; killing it"
      kill -KILL "$pid" 2>/dev/null
      sleep 0.2
    fi
    if alive "$pid"; then log "$name ($pid) still running"; rc=1; return; fi
  fi
  rm -f "$pidfile"
}
stop_daemon unbound "$STATE_DIR/unbound/unbound.pid" "$STATE_DIR/unbound/unbound.conf"
stop_daemon danted "$STATE_DIR/dante/danted.pid" "$STATE_DIR/dante/danted.conf"
stop_daemon knotd "$STATE_DIR/knot/run/knot.pid" "$STATE_DIR/knot/knot.conf"

exit "$rc"
