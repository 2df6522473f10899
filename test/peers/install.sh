#!/usr/bin/env bash
# Installs the real peers the integration tests deliver to (Postfix, knot, unbound, …) on
# Debian 12 as root, and makes sure the SYSTEM instances of those daemons are stopped and
# disabled, because they would hold the loopback ports our own instances need (*:25, :53).
#
# Idempotent: apt runs only for packages that are missing, `apt-get update` only when apt has
# no package lists yet or an install fails for want of them. The system daemons are stopped
# only when they run, each through its own init system (systemd when it is PID 1, else the
# SysV script), which matches them by their own pid file: our instances are never touched.
set -euo pipefail

# sasl2-bin + libsasl2-modules(-db): Cyrus SASL for the Postfix submission peer (sasldb,
# SCRAM/CRAM-MD5/PLAIN/LOGIN); dante-server: the SOCKS5 proxy peer; dovecot-core: Dovecot SASL,
# kept for tests that want Postfix's other SASL backend.
PACKAGES=(postfix unbound knot knot-dnssecutils ldnsutils openssl dnsutils python3-dkim chromium
  sasl2-bin libsasl2-modules libsasl2-modules-db dante-server dovecot-core)

log() { printf 'peers/install: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  log "must run as root (binds 127.0.0.x:25 and :53, runs Postfix)"
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive

installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
for p in "${PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  # Postfix's debconf questions: no system mail, so the package configures no listener of
  # its own beyond the default and we stop it below anyway.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  echo "postfix postfix/mailname string localhost" | debconf-set-selections
  # Package lists are absent on a fresh image; refresh them only then, or when an install
  # from stale lists fails (a mirror has moved a version on).
  # No package may start its daemon while being installed (Debian's policy-rc.d protocol: exit
  # 101 = "not allowed"); ours only, removed again afterwards.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# peers/install: no daemons started by package installs\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    apt-get update -qq >&2
  fi
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
fi

systemd_running() {
  [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

# Stops and disables one system daemon. $2 is a command that exits 0 while it runs.
stop_system() {
  local name=$1 running_check=$2
  if systemd_running; then
    if systemctl is-active --quiet "$name" 2>/dev/null; then
      log "stopping system $name (systemd)"
      systemctl stop "$name" || true
    fi
    if systemctl is-enabled --quiet "$name" 2>/dev/null; then
      systemctl disable --quiet "$name" 2>/dev/null || true
    fi
  else
    if eval "$running_check" >/dev/null 2>&1; then
      log "stopping system $name (init script)"
      if [ -x "/etc/init.d/$name" ]; then
        "/etc/init.d/$name" stop >/dev/null 2>&1 || true
      fi
    fi
    # Keep it from coming back at the next boot of a machine that is kept.
    if command -v update-rc.d >/dev/null 2>&1 && [ -x "/etc/init.d/$name" ]; then
      update-rc.d "$name" disable >/dev/null 2>&1 || true
    fi
  fi
  if eval "$running_check" >/dev/null 2>&1; then
    log "system $name is still running; stop it by hand"
    return 1
  fi
}

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# `postfix status` reads the DEFAULT config (/etc/postfix) only: the system instance.
stop_system postfix "postfix status"
# The system unbound and knot are found by the pid files their init scripts use.
stop_system unbound "pid_alive /run/unbound.pid"
stop_system knot "pid_alive /run/knot/knot.pid"
stop_system danted "pid_alive /run/danted.pid"
stop_system dovecot "pid_alive /run/dovecot/master.pid"
stop_system saslauthd "pid_alive /run/saslauthd/saslauthd.pid"

# Dante's "username" method checks the system password database: a dedicated user with a
# test password and no way to log in (no shell, no home), for the SOCKS5 peer only.
SOCKS_USER=outbox-socks
if ! getent passwd "$SOCKS_USER" >/dev/null; then
  log "creating system user $SOCKS_USER (SOCKS5 test peer; no login)"
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$SOCKS_USER"
fi
echo "$SOCKS_USER:outbox-socks-test-password" | chpasswd

log "versions:"
{
  printf 'postfix  %s\n' "$(postconf -h mail_version)"
  printf 'knotd    %s\n' "$(knotd --version | head -1)"
  printf 'unbound  %s\n' "$(unbound -V | head -1)"
  printf 'openssl  %s\n' "$(openssl version)"
  printf 'dig      %s\n' "$(dig -v 2>&1 | head -1)"
  printf 'drill    %s\n' "$(drill -v 2>&1 | head -1)"
  printf 'chromium %s\n' "$(chromium --version 2>/dev/null | head -1)"
  printf 'dkim     %s\n' "$(dpkg-query -W -f='${Version}' python3-dkim)"
  printf 'cyrus    %s\n' "$(dpkg-query -W -f='${Version}' sasl2-bin)"
  printf 'dante    %s\n' "$(danted -v 2>&1 | head -1)"
} >&2
