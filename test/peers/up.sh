#!/usr/bin/env bash
# Starts the real peers of the integration tests, all on loopback, all state in STATE_DIR:
#   - knotd: authoritative for every zone in zones/*.zone (those marked "@dnssec" are signed)
#   - unbound: validating resolver that knows only those zones (stub zones to knotd), with the
#     signed zones' DS as trust anchors, and no path to any server outside this machine
#   - Postfix: one instance, one smtpd listener per test MX address, Maildir delivery, and
#     submission listeners (587 STARTTLS, 465 implicit TLS; SASL via a Cyrus sasldb)
#   - Dante: a SOCKS5 proxy with username/password in front of the MX hosts
# and writes STATE_DIR/env (shell) and STATE_DIR/peers.json (tests) describing them.
#
# Usage: up.sh [STATE_DIR]    (default: a new mktemp dir; its path is printed on stdout)
# Undo:  down.sh STATE_DIR    (stops exactly what this started)
#
# Addresses may be overridden through the environment (IP_MX1=… up.sh). The DNS addresses
# fall back to other loopback addresses when the preferred one is taken (127.0.0.53 is
# systemd-resolved's on many machines).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { printf 'peers/up: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (binds 127.0.0.x:25 and :53)"
for cmd in postfix knotd knotc keymgr unbound openssl ss perl saslpasswd2 danted; do
  command -v "$cmd" >/dev/null || die "$cmd missing: run test/peers/install.sh"
done

STATE_DIR=${1:-$(mktemp -d /tmp/peers.XXXXXX)}
mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)
[ -e "$STATE_DIR/env" ] && die "$STATE_DIR already holds peers (run down.sh on it, or use a new dir)"
# Postfix daemons (user postfix) and virtual(8) delivery (user nobody) must reach their
# directories under it; mktemp makes it 0700.
chmod 0755 "$STATE_DIR"

# Whatever fails from here on, take down what was already started.
started=0
cleanup_on_error() {
  local rc=$?
  if [ "$rc" != 0 ] && [ "$started" = 1 ]; then
    log "failed (exit $rc); logs are in $STATE_DIR; stopping what was started"
    "$HERE/down.sh" "$STATE_DIR" >&2 || true
  fi
}
trap cleanup_on_error EXIT

# ---- addresses -------------------------------------------------------------------------------
export IP_MX1=${IP_MX1:-127.0.0.10}          # STARTTLS, test-CA cert mx1.tls.test (+ mx.sts.test)
export IP_PLAIN=${IP_PLAIN:-127.0.0.11}      # no STARTTLS
export IP_SELF=${IP_SELF:-127.0.0.12}        # STARTTLS, self-signed mx-self.sts.test
export IP_DANE=${IP_DANE:-127.0.0.13}        # STARTTLS, test-CA cert mx.dane.test, TLSA matches
export IP_DANE_BAD=${IP_DANE_BAD:-127.0.0.14} # STARTTLS, test-CA cert mx-bad.dane.test, TLSA wrong
export IP_DEAD=${IP_DEAD:-127.0.0.19}        # nothing listens (connection refused)
export IP_HTTPS=${IP_HTTPS:-127.0.0.20}      # mta-sts.* hosts: the tests' own HTTPS server
export IP_DUAL=${IP_DUAL:-127.0.0.15}        # no STARTTLS, refuses every sender with 554 5.7.1 (rules §7)
# The same refusing listener on the IPv6 loopback, for the dual-stack test domain (A + AAAA).
# Empty when this machine has no ::1 (the dual-stack test then skips).
if grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null; then
  export IP6_DUAL=${IP6_DUAL-::1}
else
  export IP6_DUAL=
fi
export IP_SUBMIT=${IP_SUBMIT:-127.0.0.17}    # Postfix submission: 587 STARTTLS, 465 implicit TLS, SASL
export IP_SOCKS=${IP_SOCKS:-127.0.0.18}      # Dante SOCKS5 on :1080, username/password
SUBMIT_USER=outbox
SUBMIT_PASSWORD=${SUBMIT_PASSWORD:-submit-test-password}
SOCKS_PORT=1080
# The system user Dante's "username" method checks (created by install.sh, no login shell).
SOCKS_USER=outbox-socks
SOCKS_PASSWORD=outbox-socks-test-password
SMTP_PORT=25

# Is anything (on that address or on the wildcard) bound to port $2, TCP or UDP?
port_taken() {
  local ip=$1 port=$2
  ss -H -lntu 2>/dev/null | awk '{print $5}' |
    grep -qE "^(${ip//./\\.}|0\.0\.0\.0|\*|\[::\]|\[::ffff:${ip//./\\.}\]):${port}\$"
}

# First address of the list whose port 53 is free (an address given in the env is taken as is).
pick_dns_addr() {
  local preset=$1; shift
  if [ -n "$preset" ]; then echo "$preset"; return; fi
  local a
  for a in "$@"; do
    if ! port_taken "$a" 53; then echo "$a"; return; fi
  done
  die "no free loopback address for DNS among: $*"
}
export DNS_AUTH_ADDR; DNS_AUTH_ADDR=$(pick_dns_addr "${DNS_AUTH_ADDR:-}" 127.0.0.53 127.0.0.153 127.0.0.253)
export DNS_ADDR; DNS_ADDR=$(pick_dns_addr "${DNS_ADDR:-}" 127.0.0.1 127.0.0.2 127.0.0.154)
[ "$DNS_ADDR" != "$DNS_AUTH_ADDR" ] || die "DNS_ADDR and DNS_AUTH_ADDR must differ"
# Where unbound's root hints point: an address where nothing listens, so a query for a name
# outside the test zones fails here and never leaves the machine.
DNS_NOWHERE=127.0.0.254

[ "$(printf '%s\n' "$IP_MX1" "$IP_PLAIN" "$IP_SELF" "$IP_DANE" "$IP_DANE_BAD" "$IP_DEAD" "$IP_HTTPS" "$IP_DUAL" \
  "$IP_SUBMIT" "$IP_SOCKS" | sort -u | wc -l)" = 10 ] || die "the IP_* addresses must all differ"
for ip in "$IP_MX1" "$IP_PLAIN" "$IP_SELF" "$IP_DANE" "$IP_DANE_BAD" "$IP_DUAL"; do
  port_taken "$ip" "$SMTP_PORT" &&
    die "$ip:$SMTP_PORT is taken (system Postfix? run install.sh; other peers? run down.sh)"
done
port6_taken() { ss -H -lnt 2>/dev/null | awk '{print $4}' | grep -qE "^\[(::1|::)\]:${SMTP_PORT}\$"; }
if [ -n "$IP6_DUAL" ] && port6_taken; then
  die "[$IP6_DUAL]:$SMTP_PORT is taken (system Postfix? run install.sh; other peers? run down.sh)"
fi
for port in 587 465; do
  port_taken "$IP_SUBMIT" "$port" && die "$IP_SUBMIT:$port is taken (other peers? run down.sh)"
done
port_taken "$IP_SOCKS" "$SOCKS_PORT" && die "$IP_SOCKS:$SOCKS_PORT is taken (other peers? run down.sh)"
port_taken "$DNS_AUTH_ADDR" 53 && die "$DNS_AUTH_ADDR:53 is taken"
port_taken "$DNS_ADDR" 53 && die "$DNS_ADDR:53 is taken"

# ---- certificates ----------------------------------------------------------------------------
C=$STATE_DIR/certs
mkdir -p "$C"
CA_FILE=$C/ca.crt
CA_KEY=$C/ca.key
ossl() { openssl "$@" 2>>"$C/openssl.log"; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
  -keyout "$CA_KEY" -out "$CA_FILE" -subj "/O=Direct Outbox tests/CN=Direct Outbox Test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

# leaf NAME CN [SAN...]: key and cert signed by the test CA.
leaf() {
  local name=$1 cn=$2; shift 2
  local san="DNS:$cn" s
  for s in "$@"; do san="$san,DNS:$s"; done
  ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$C/$name.key" -out "$C/$name.csr" -subj "/CN=$cn"
  printf '%s\n' "subjectAltName=$san" "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
    "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$C/$name.ext"
  ossl x509 -req -in "$C/$name.csr" -CA "$CA_FILE" -CAkey "$CA_KEY" -CAcreateserial \
    -days 825 -extfile "$C/$name.ext" -out "$C/$name.crt"
  rm -f "$C/$name.csr" "$C/$name.ext"
}
leaf mx1 mx1.tls.test mx.sts.test
leaf dane mx.dane.test
leaf dane-bad mx-bad.dane.test
leaf submit submit.relay.test
# mta-sts.<domain> for every such name in the zones: the cert the tests' HTTPS server serves.
mapfile -t sts_names < <(cat "$HERE"/zones/*.zone | perl -ne '
  if (/^\$ORIGIN\s+(\S+?)\.?\s*$/) { $o = $1 }
  elsif (/^(mta-sts(?:\.\S+)?)\s+(?:\d+\s+)?(?:IN\s+)?A\s/) { print "$1.$o\n" }')
[ "${#sts_names[@]}" -gt 0 ] || die "no mta-sts.* names found in zones/"
leaf sts "${sts_names[0]}" "${sts_names[@]:1}"
# Self-signed: no CA vouches for it (what an MTA-STS "enforce" sender must refuse).
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
  -keyout "$C/self.key" -out "$C/self.crt" -subj "/CN=mx-self.sts.test" \
  -addext "subjectAltName=DNS:mx-self.sts.test"
chmod 0644 "$C"/*.crt

spki_sha256() {
  openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1
}
# RFC 6698 §2.1 / RFC 7671 §5.1: DANE-EE(3) SPKI(1) SHA-256(1) of the MX's own key.
export TLSA_DANE; TLSA_DANE=$(spki_sha256 "$C/dane.crt")
# A well-formed digest of no key at all.
export TLSA_DANE_BAD; TLSA_DANE_BAD=$(printf 'no such key' | sha256sum | cut -d' ' -f1)

# ---- knotd (authoritative) ---------------------------------------------------------------------
K=$STATE_DIR/knot
mkdir -p "$K/zones" "$K/db" "$K/run"
KNOT_CONF=$K/knot.conf
KNOT_PID_FILE=$K/run/knot.pid
zones=() signed=() unsigned=() bogus=()
for f in "$HERE"/zones/*.zone; do
  z=$(basename "$f" .zone)
  zones+=("$z")
  # Fill {{NAME}} from the environment; an unknown placeholder is an error, not an empty string.
  perl -pe 's/\{\{(\w+)\}\}/defined $ENV{$1} ? $ENV{$1} : die "$ARGV: {{$1}} is not set\n"/ge' \
    "$f" >"$K/zones/$z.zone"
  if grep -q '@dnssec' "$f"; then signed+=("$z"); else unsigned+=("$z"); fi
  # "@dnssec-bogus": signed, but unbound's trust anchor for it is wrong (every answer bogus).
  if grep -q '@dnssec-bogus' "$f"; then bogus+=("$z"); fi
done

{
  cat <<EOF
server:
    rundir: "$K/run"
    pidfile: "$KNOT_PID_FILE"
    listen: $DNS_AUTH_ADDR@53
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: "$K/run/knot.sock"
log:
  - target: "$K/knot.log"
    any: info
database:
    storage: "$K/db"
policy:
  - id: peers
    algorithm: ecdsap256sha256
template:
  - id: default
    storage: "$K/zones"
    file: "%s.zone"
    # The zone files here are rendered copies: never write back, always load them whole.
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
EOF
  for z in "${unsigned[@]}"; do printf '  - domain: %s\n' "$z"; done
  for z in "${signed[@]}"; do
    printf '  - domain: %s\n    dnssec-signing: on\n    dnssec-policy: peers\n' "$z"
  done
} >"$KNOT_CONF"
knotc -c "$KNOT_CONF" conf-check >/dev/null || die "knot.conf invalid: $KNOT_CONF"

started=1
knotd -c "$KNOT_CONF" -d >>"$K/knot.log" 2>&1 || die "knotd failed to start: see $K/knot.log"

have_dig() { command -v dig >/dev/null; }
# query SERVER NAME TYPE [dig options]: prints the answer's header flags line and records.
query() {
  local server=$1 name=$2 type=$3; shift 3
  if have_dig; then
    dig +tries=1 +time=1 "$@" @"$server" "$name" "$type"
  else
    drill -Q "$@" @"$server" "$name" "$type"
  fi
}

# wait_for DESCRIPTION COMMAND...: retries for up to ~10 s.
wait_for() {
  local what=$1; shift
  local i
  for i in $(seq 1 100); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  die "timed out waiting for $what"
}

signed_ready() {
  local z
  for z in "${signed[@]}"; do
    query "$DNS_AUTH_ADDR" "$z" DNSKEY +norec +dnssec | grep -q "RRSIG.*DNSKEY" || return 1
  done
}
zones_ready() {
  local z
  for z in "${zones[@]}"; do
    query "$DNS_AUTH_ADDR" "$z" SOA +norec | grep -q "status: NOERROR" || return 1
  done
}
wait_for "knotd to serve the zones" zones_ready
wait_for "knotd to sign ${signed[*]:-nothing}" signed_ready

# ---- unbound (validating resolver) -------------------------------------------------------------
U=$STATE_DIR/unbound
mkdir -p "$U"
UNBOUND_CONF=$U/unbound.conf
UNBOUND_PID_FILE=$U/unbound.pid
: >"$U/trust-anchors"
for z in "${signed[@]}"; do
  # The SHA-256 DS of the zone's KSK, as a parent would publish it.
  if [[ " ${bogus[*]} " == *" $z "* ]]; then
    # The zone's real key tag and algorithm, but a digest of no key: validation must fail.
    keymgr -c "$KNOT_CONF" "$z" ds | awk -v d="$TLSA_DANE_BAD" '$2 == "DS" && $5 == 2 { print $1, $2, $3, $4, $5, d }' >>"$U/trust-anchors"
  else
    keymgr -c "$KNOT_CONF" "$z" ds | awk '$2 == "DS" && $5 == 2' >>"$U/trust-anchors"
  fi
  grep -q "^$z\. DS" "$U/trust-anchors" || die "no DS for $z from keymgr"
done
cat >"$U/root.hints" <<EOF
.                 3600000 NS a.root.peers.invalid.
a.root.peers.invalid. 3600000 A $DNS_NOWHERE
EOF

{
  cat <<EOF
server:
    verbosity: 1
    interface: $DNS_ADDR
    port: 53
    do-ip6: no
    do-daemonize: yes
    username: ""
    chroot: ""
    directory: "$U"
    pidfile: "$UNBOUND_PID_FILE"
    logfile: "$U/unbound.log"
    use-syslog: no
    val-log-level: 2
    access-control: 127.0.0.0/8 allow
    # The authoritative server is on loopback.
    do-not-query-localhost: no
    # Queries leave from loopback only: no route to anything outside this machine.
    outgoing-interface: 127.0.0.1
    module-config: "validator iterator"
    root-hints: "$U/root.hints"
    trust-anchor-file: "$U/trust-anchors"
    cache-max-negative-ttl: 5
    # Only the test zones resolve: anything else under test. is NXDOMAIN, the rest REFUSED.
    local-zone: "." refuse
    local-zone: "test." static
EOF
  for z in "${zones[@]}"; do printf '    local-zone: "%s." transparent\n' "$z"; done
  for z in "${unsigned[@]}"; do printf '    domain-insecure: "%s."\n' "$z"; done
  for z in "${zones[@]}"; do
    printf 'stub-zone:\n    name: "%s."\n    stub-addr: %s@53\n' "$z" "$DNS_AUTH_ADDR"
  done
} >"$UNBOUND_CONF"
unbound-checkconf "$UNBOUND_CONF" >/dev/null || die "unbound.conf invalid: $UNBOUND_CONF"
unbound -c "$UNBOUND_CONF" >>"$U/unbound.log" 2>&1 || die "unbound failed to start: see $U/unbound.log"

authentic() { query "$DNS_ADDR" "$1" "$2" +dnssec | grep -qE "flags:[^;]* ad[ ;]"; }
answers() { query "$DNS_ADDR" "$1" "$2" | grep -q "status: NOERROR"; }
wait_for "unbound to answer" answers tls.test MX
servfail() { query "$DNS_ADDR" "$1" "$2" +dnssec | grep -q "status: SERVFAIL"; }
for z in "${signed[@]}"; do
  if [[ " ${bogus[*]} " == *" $z "* ]]; then
    servfail "$z" SOA || die "unbound does not refuse the mis-signed $z (expected SERVFAIL): see $U/unbound.log"
    continue
  fi
  authentic "$z" SOA || die "unbound does not validate $z (no AD bit): see $U/unbound.log"
done
for z in "${unsigned[@]}"; do
  authentic "$z" SOA && die "unbound sets AD for unsigned $z"
done

# ---- Postfix ------------------------------------------------------------------------------------
P=$STATE_DIR/postfix
PE=$P/etc
MAILDIR=$STATE_DIR/mail
mkdir -p "$PE" "$P/queue" "$P/data" "$MAILDIR"
# virtual(8) delivers as nobody; the tests (root) read the Maildirs.
chown 65534:65534 "$MAILDIR"
chown postfix "$P/data"
POSTFIX_PID_FILE=$P/queue/pid/master.pid

# Mail is accepted for every domain at or under a test zone, and no other (no relay).
for z in "${zones[@]}"; do printf '/(^|\\.)%s$/ OK\n' "${z//./\\.}"; done >"$PE/virtual_domains"
# One Maildir, MAILDIR/inbox/, for every recipient (virtual(8) forbids regexp substitution,
# so there is no per-recipient path); each copy starts with "Delivered-To: <recipient>", which
# readMaildir() filters on. Local parts outside this class are unknown users (550).
cat >"$PE/virtual_mailbox" <<'EOF'
/^[a-z0-9_+=-][a-z0-9._+=-]*@[a-z0-9][a-z0-9.-]*$/  inbox/
EOF
cat >"$PE/recipient_access" <<'EOF'
/^reject-[^@]*@/    550 5.1.1 Mailbox unavailable (test peer rejects reject-*)
/^tempfail-[^@]*@/  450 4.2.1 Mailbox busy, try again later (test peer defers tempfail-*)
EOF

cat >"$PE/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $P/queue
data_directory = $P/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $P/maillog
maillog_file_prefixes = $STATE_DIR
myhostname = peers.test
mydomain = peers.test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
biff = no
inet_interfaces = loopback-only
inet_protocols = $([ -n "$IP6_DUAL" ] && echo all || echo ipv4)
mynetworks = 127.0.0.0/8$([ -n "$IP6_DUAL" ] && echo ' [::1]/128')
local_header_rewrite_clients =
smtpd_banner = \$myhostname ESMTP test peer
smtpd_peername_lookup = no
smtpd_error_sleep_time = 0
smtpd_tls_security_level = none
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = check_recipient_access regexp:$PE/recipient_access, reject_unauth_destination
virtual_mailbox_domains = regexp:$PE/virtual_domains
virtual_mailbox_maps = regexp:$PE/virtual_mailbox
virtual_mailbox_base = $MAILDIR
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
# Nothing leaves: bounces to the tests' senders die here instead of being looked up in DNS.
default_transport = error:test peers send no mail off this machine
relay_transport = error:test peers send no mail off this machine
smtp_dns_support_level = disabled
# Submission (relay transports): Cyrus SASL with the sasldb below; the listeners turn it on.
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $PE/sasl
smtpd_sasl_authenticated_header = no
EOF

# ---- SASL for the submission listeners: one test user in a Cyrus sasldb (plain secrets, so
# every mechanism works: SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN) -------------------
mkdir -p "$PE/sasl"
SASLDB=$P/sasldb2
cat >"$PE/sasl/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $SASLDB
mech_list: SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN
EOF
printf '%s' "$SUBMIT_PASSWORD" | saslpasswd2 -p -c -f "$SASLDB" -u submit.relay.test "$SUBMIT_USER" \
  || die "saslpasswd2 failed"
chown root:postfix "$SASLDB"
chmod 0640 "$SASLDB"

# listener IP NAME TLS_LEVEL [CERT KEY]
listener() {
  local ip=$1 name=$2 level=$3 cert=${4:-} key=${5:-}
  printf '%s:%s inet n - n - - smtpd\n' "$ip" "$SMTP_PORT"
  printf '  -o syslog_name=postfix/%s\n  -o myhostname=%s\n  -o smtpd_tls_security_level=%s\n' \
    "$name" "$name" "$level"
  if [ -n "$cert" ]; then
    printf '  -o smtpd_tls_cert_file=%s\n  -o smtpd_tls_key_file=%s\n' "$cert" "$key"
  fi
}
{
  listener "$IP_MX1" mx1.tls.test may "$C/mx1.crt" "$C/mx1.key"
  listener "$IP_PLAIN" mx-plain.tls.test none
  listener "$IP_SELF" mx-self.sts.test may "$C/self.crt" "$C/self.key"
  listener "$IP_DANE" mx.dane.test may "$C/dane.crt" "$C/dane.key"
  listener "$IP_DANE_BAD" mx-bad.dane.test may "$C/dane-bad.crt" "$C/dane-bad.key"
  # mx-dual.tls.test: a policy rejection (554 5.7.1) at MAIL, over IPv4 and IPv6 (rules §7).
  for ip in "$IP_DUAL" ${IP6_DUAL:+"[$IP6_DUAL]"}; do
    listener "$ip" mx-dual.tls.test none
    printf '  -o smtpd_delay_reject=no\n  -o smtpd_sender_restrictions=reject\n'
  done
  # Submission (RFC 6409 on 587, RFC 8314 implicit TLS on 465): TLS required, AUTH only over
  # TLS, nothing accepted without it; what it accepts goes to the same Maildir.
  for sub in 587:starttls 465:implicit; do
    printf '%s:%s inet n - n - - smtpd\n' "$IP_SUBMIT" "${sub%%:*}"
    printf '  -o syslog_name=postfix/submission-%s\n  -o myhostname=submit.relay.test\n' "${sub##*:}"
    printf '  -o smtpd_tls_security_level=encrypt\n  -o smtpd_tls_cert_file=%s\n  -o smtpd_tls_key_file=%s\n' "$C/submit.crt" "$C/submit.key"
    if [ "${sub##*:}" = implicit ]; then printf '  -o smtpd_tls_wrappermode=yes\n'; fi
    printf '  -o smtpd_sasl_auth_enable=yes\n  -o smtpd_tls_auth_only=yes\n  -o smtpd_sasl_local_domain=submit.relay.test\n'
    printf '  -o smtpd_client_restrictions=permit_sasl_authenticated,reject\n'
    printf '  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject\n'
    printf '  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject\n'
  done
  # The internal services Postfix needs, none chrooted (the queue is not under /var/spool).
  grep -v '^#' "$HERE/postfix-services.cf"
} >"$PE/master.cf"

postfix -c "$PE" check >>"$P/start.log" 2>&1 || die "postfix check failed: see $P/start.log"
postfix -c "$PE" start >>"$P/start.log" 2>&1 || die "postfix failed to start: see $P/start.log"

smtp_listening() { ss -H -ltn "sport = :$SMTP_PORT" | awk '{print $4}' | grep -qxF "$1:$SMTP_PORT"; }
for ip in "$IP_MX1" "$IP_PLAIN" "$IP_SELF" "$IP_DANE" "$IP_DANE_BAD" "$IP_DUAL" ${IP6_DUAL:+"[$IP6_DUAL]"}; do
  wait_for "postfix on $ip:$SMTP_PORT" smtp_listening "$ip"
done
listening() { ss -H -ltn "sport = :$2" | awk '{print $4}' | grep -qx "$1:$2"; }
wait_for "postfix submission on $IP_SUBMIT:587" listening "$IP_SUBMIT" 587
wait_for "postfix submission on $IP_SUBMIT:465" listening "$IP_SUBMIT" 465

# ---- Dante (SOCKS5, RFC 1928; username/password, RFC 1929) ---------------------------------------
# The "username" method checks the system password database: the user comes from install.sh.
getent passwd "$SOCKS_USER" >/dev/null || die "system user $SOCKS_USER missing: run test/peers/install.sh"
D=$STATE_DIR/dante
mkdir -p "$D"
DANTE_CONF=$D/danted.conf
DANTE_PID_FILE=$D/danted.pid
cat >"$DANTE_CONF" <<EOF
logoutput: $D/danted.log
internal: $IP_SOCKS port = $SOCKS_PORT
external: 127.0.0.1
socksmethod: username
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {
  from: 127.0.0.0/8 to: 0.0.0.0/0
  log: error
}
socks pass {
  from: 127.0.0.0/8 to: 127.0.0.0/8
  command: connect
  log: connect disconnect error
}
socks block {
  from: 0.0.0.0/0 to: 0.0.0.0/0
  log: connect error
}
EOF
# (Only loopback destinations: the proxy reaches the test MX hosts and nothing else. Dante
# warns that 127.0.0.18 is on no interface — lo has 127.0.0.1/8 — and binds it all the same.)
danted -V -f "$DANTE_CONF" >>"$D/start.log" 2>&1 || die "danted.conf invalid: see $D/start.log"
danted -D -f "$DANTE_CONF" -p "$DANTE_PID_FILE" >>"$D/start.log" 2>&1 || die "danted failed to start: see $D/start.log"
wait_for "dante on $IP_SOCKS:$SOCKS_PORT" listening "$IP_SOCKS" "$SOCKS_PORT"

# ---- description for the tests ------------------------------------------------------------------
KNOT_PID=$(cat "$KNOT_PID_FILE")
UNBOUND_PID=$(cat "$UNBOUND_PID_FILE")
POSTFIX_PID=$(tr -d ' ' <"$POSTFIX_PID_FILE")
DANTE_PID=$(tr -dc '0-9' <"$DANTE_PID_FILE")
cat >"$STATE_DIR/env" <<EOF
STATE_DIR=$STATE_DIR
DNS_ADDR=$DNS_ADDR
DNS_PORT=53
DNS_AUTH_ADDR=$DNS_AUTH_ADDR
CA_FILE=$CA_FILE
CA_KEY=$CA_KEY
IP_MX1=$IP_MX1
IP_PLAIN=$IP_PLAIN
IP_SELF=$IP_SELF
IP_DANE=$IP_DANE
IP_DANE_BAD=$IP_DANE_BAD
IP_DEAD=$IP_DEAD
IP_HTTPS=$IP_HTTPS
IP_DUAL=$IP_DUAL
IP6_DUAL=$IP6_DUAL
SMTP_PORT=$SMTP_PORT
MAILDIR=$MAILDIR/inbox
STS_CERT=$C/sts.crt
STS_KEY=$C/sts.key
TLSA_DANE=$TLSA_DANE
TLSA_DANE_BAD=$TLSA_DANE_BAD
POSTFIX_CONFIG=$PE
POSTFIX_PID_FILE=$POSTFIX_PID_FILE
POSTFIX_LOG=$P/maillog
KNOT_CONF=$KNOT_CONF
KNOT_PID_FILE=$KNOT_PID_FILE
UNBOUND_CONF=$UNBOUND_CONF
UNBOUND_PID_FILE=$UNBOUND_PID_FILE
IP_SUBMIT=$IP_SUBMIT
IP_SOCKS=$IP_SOCKS
SOCKS_PORT=$SOCKS_PORT
DANTE_CONF=$DANTE_CONF
DANTE_PID_FILE=$DANTE_PID_FILE
EOF

json_list() { local s='' x; for x in "$@"; do s="$s${s:+, }\"$x\""; done; printf '[%s]' "$s"; }
host_json() { # name ip tls cert key
  printf '{ "name": "%s", "ip": "%s", "port": %s, "tls": "%s"' "$1" "$2" "$SMTP_PORT" "$3"
  [ -n "${4:-}" ] && printf ', "cert": "%s", "key": "%s"' "$4" "$5"
  printf ' }'
}
cat >"$STATE_DIR/peers.json" <<EOF
{
  "stateDir": "$STATE_DIR",
  "dns": {
    "resolver": "$DNS_ADDR",
    "port": 53,
    "authoritative": "$DNS_AUTH_ADDR",
    "zones": $(json_list "${zones[@]}"),
    "signedZones": $(json_list "${signed[@]}")
  },
  "ca": { "cert": "$CA_FILE", "key": "$CA_KEY" },
  "hosts": {
    "mx1": $(host_json mx1.tls.test "$IP_MX1" ca "$C/mx1.crt" "$C/mx1.key"),
    "plain": $(host_json mx-plain.tls.test "$IP_PLAIN" none),
    "self": $(host_json mx-self.sts.test "$IP_SELF" self-signed "$C/self.crt" "$C/self.key"),
    "dane": $(host_json mx.dane.test "$IP_DANE" ca "$C/dane.crt" "$C/dane.key"),
    "daneBad": $(host_json mx-bad.dane.test "$IP_DANE_BAD" ca "$C/dane-bad.crt" "$C/dane-bad.key"),
    "dead": { "name": "dead.tls.test", "ip": "$IP_DEAD", "port": $SMTP_PORT },
    "dual": { "name": "mx-dual.tls.test", "ip": "$IP_DUAL", "ip6": "$IP6_DUAL", "port": $SMTP_PORT, "tls": "none" }
  },
  "https": { "ip": "$IP_HTTPS", "port": 443, "cert": "$C/sts.crt", "key": "$C/sts.key", "names": $(json_list "${sts_names[@]}") },
  "tlsa": { "dane": "$TLSA_DANE", "daneBad": "$TLSA_DANE_BAD" },
  "submission": { "name": "submit.relay.test", "ip": "$IP_SUBMIT", "starttlsPort": 587, "implicitPort": 465, "user": "$SUBMIT_USER", "password": "$SUBMIT_PASSWORD" },
  "socks": { "name": "socks.relay.test", "ip": "$IP_SOCKS", "port": $SOCKS_PORT, "user": "$SOCKS_USER", "password": "$SOCKS_PASSWORD" },
  "maildir": "$MAILDIR/inbox",
  "logs": { "postfix": "$P/maillog", "knot": "$K/knot.log", "unbound": "$U/unbound.log", "dante": "$D/danted.log" },
  "pids": { "postfix": $POSTFIX_PID, "knot": $KNOT_PID, "unbound": $UNBOUND_PID, "dante": $DANTE_PID }
}
EOF

log "up: resolver $DNS_ADDR, authoritative $DNS_AUTH_ADDR, SMTP $IP_MX1-$IP_DANE_BAD, state $STATE_DIR"
echo "$STATE_DIR"
