#!/bin/sh
# What an outside scanner sees on genkan-server's two ports: TLS 1.2 only, the
# three ECDHE-ECDSA AEAD suites, no renegotiation, and on the device port no
# service at all without a client certificate. Usage: test-sslscan.sh BUILD_DIR
set -u

BUILD=${1:?usage: test-sslscan.sh BUILD_DIR}
HELPER=$BUILD/tests/helper-enroll
ALLOWED="ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384 ECDHE-ECDSA-CHACHA20-POLY1305"

. "$(dirname "$0")/server-lib.sh"

for tool in sslscan openssl timeout; do
  command -v "$tool" >/dev/null 2>&1 || fail "'$tool' is not installed (Debian: apt-get install sslscan openssl coreutils)"
done
[ -x "$HELPER" ] || fail "no enrollment helper at $HELPER"

start_server
echo "server pid $PID: device port $DEVICE_PORT, admin port $ADMIN_PORT"

"$HELPER" "$DATA" "$ADMIN_PORT" "$TMP" >"$TMP/enroll.log" 2>&1 || fail "enrolling a device: $(cat "$TMP/enroll.log")"
[ -s "$TMP/device.crt" ] && [ -s "$TMP/device.key" ] || fail "the helper wrote no device certificate"

# check_protocols NAME FILE: TLS 1.2 and nothing else, no renegotiation.
check_protocols() {
  grep -q '^TLSv1\.2 *enabled' "$2" || fail "$1: TLSv1.2 is not enabled:
$(cat "$2")"
  for p in SSLv2 SSLv3 TLSv1.0 TLSv1.1 TLSv1.3; do
    grep -q "^$p *disabled" "$2" || fail "$1: $p is not reported disabled:
$(grep "^$p" "$2")"
  done
  grep -q 'Session renegotiation not supported' "$2" || fail "$1: renegotiation is not refused:
$(grep -i -A1 'renegotiation' "$2")"
}

# check_ciphers NAME FILE: exactly the allowed suites are accepted.
check_ciphers() {
  found=$(grep -E '^(Accepted|Preferred) ' "$2" | awk '{print $5}' | sort -u)
  [ -n "$found" ] || fail "$1: sslscan lists no accepted cipher suite:
$(cat "$2")"
  for c in $found; do
    case " $ALLOWED " in
      *" $c "*) ;;
      *) fail "$1: cipher suite $c is accepted but not allowed" ;;
    esac
  done
  for c in $ALLOWED; do
    echo "$found" | grep -qx "$c" || fail "$1: allowed suite $c is not offered"
  done
  echo "$1: $(echo "$found" | tr "\n" " ")"
}

sslscan --no-colour "127.0.0.1:$ADMIN_PORT" >"$TMP/admin.scan" 2>&1
check_protocols "admin port" "$TMP/admin.scan"
check_ciphers "admin port" "$TMP/admin.scan"

# Without a certificate the device port completes no handshake, so sslscan can
# only see the protocol versions; with one it lists the suites.
sslscan --no-colour "127.0.0.1:$DEVICE_PORT" >"$TMP/device-anon.scan" 2>&1
check_protocols "device port (no client certificate)" "$TMP/device-anon.scan"
if grep -qE '^(Accepted|Preferred) ' "$TMP/device-anon.scan"; then
  fail "device port accepted a cipher suite from a client without a certificate"
fi
sslscan --no-colour --certs="$TMP/device.crt" --pk="$TMP/device.key" "127.0.0.1:$DEVICE_PORT" \
  >"$TMP/device.scan" 2>&1
check_protocols "device port" "$TMP/device.scan"
check_ciphers "device port" "$TMP/device.scan"

# openssl s_client: a client without a certificate gets no answer; one with a
# device certificate does (so the refusal is about the certificate).
REQ='GET /v1/sync/pull HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'
printf '%b' "$REQ" | timeout 20 openssl s_client -quiet -connect "127.0.0.1:$DEVICE_PORT" -tls1_2 -servername localhost \
  -CAfile "$DATA/ca.crt" -verify_return_error >"$TMP/anon.out" 2>"$TMP/anon.err"
rc=$?
[ "$rc" -ne 0 ] || fail "openssl s_client without a certificate exited 0 on the device port"
if grep -q 'HTTP/1\.1' "$TMP/anon.out"; then
  fail "the device port answered a client without a certificate: $(head -n 1 "$TMP/anon.out")"
fi
i=0
until grep -q 'event=tls.handshake_failed.*reason=no-client-cert' "$TMP/server.log"; do
  i=$((i + 1))
  [ "$i" -le 50 ] || fail "the server did not log the refused handshake as no-client-cert"
  sleep 0.1
done
printf '%b' "$REQ" | timeout 20 openssl s_client -quiet -connect "127.0.0.1:$DEVICE_PORT" -tls1_2 -servername localhost \
  -CAfile "$DATA/ca.crt" -verify_return_error -cert "$TMP/device.crt" -key "$TMP/device.key" \
  >"$TMP/dev.out" 2>"$TMP/dev.err"
grep -q '^HTTP/1\.1 200' "$TMP/dev.out" || fail "a client with a device certificate got no 200 answer:
$(head -n 3 "$TMP/dev.out") $(tail -n 3 "$TMP/dev.err")"
echo "device port: refused without a client certificate (s_client exit $rc), served with one"

kill "$PID" 2>/dev/null
wait "$PID"
status=$?
PID=
[ "$status" -eq 0 ] || fail "genkan-server exited with status $status after SIGTERM"
echo "PASS: test-sslscan"
