# Shared by the shell integration tests: `. server-lib.sh` after setting
# BUILD; gives fail(), a scratch dir $TMP removed on exit, and start_server,
# which initialises $DATA and runs genkan-server on free loopback ports
# ($PID, $DEVICE_PORT, $ADMIN_PORT). Tests may add pids to $EXTRA_PIDS.

SERVER=$BUILD/sync-server/genkan-server

fail() {
  echo "FAIL: $*" >&2
  if [ -n "${TMP:-}" ] && [ -f "$TMP/server.log" ]; then
    echo "--- server log (tail) ---" >&2
    tail -n 20 "$TMP/server.log" >&2
  fi
  exit 1
}

[ -x "$SERVER" ] || fail "no server binary at $SERVER"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/genkan-it.XXXXXX") || fail "mktemp"
PID=
EXTRA_PIDS=
# The server stops cleanly on SIGTERM; a non-zero status then (23: the
# sanitizers' leak check, whose report is in the log) fails the test.
cleanup() {
  rc=$?
  if [ -n "$PID" ]; then
    kill "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    st=$?
    # 127: not our child any more (a test that stopped it and kept $PID).
    if [ "$st" -ne 0 ] && [ "$st" -ne 127 ]; then
      echo "FAIL: genkan-server exited with status $st on SIGTERM" >&2
      [ -f "$TMP/server.log" ] && tail -n 80 "$TMP/server.log" >&2
      [ "$rc" -ne 0 ] || rc=1
    fi
  fi
  for p in $EXTRA_PIDS; do
    kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

start_server() {
  DATA=$TMP/data
  "$SERVER" init --data-dir "$DATA" >"$TMP/init.log" 2>&1 || fail "genkan-server init: $(cat "$TMP/init.log")"
  "$SERVER" run --data-dir "$DATA" --device-port 0 --admin-port 0 2>"$TMP/server.log" &
  PID=$!
  i=0
  while ! grep -q 'event=server.listening' "$TMP/server.log" 2>/dev/null; do
    kill -0 "$PID" 2>/dev/null || fail "genkan-server exited before listening"
    i=$((i + 1))
    [ "$i" -le 200 ] || fail "genkan-server did not listen within 20 s"
    sleep 0.1
  done
  LINE=$(grep 'event=server.listening' "$TMP/server.log" | tail -n 1)
  DEVICE_PORT=$(echo "$LINE" | sed -n 's/.* device_port=\([0-9][0-9]*\).*/\1/p')
  ADMIN_PORT=$(echo "$LINE" | sed -n 's/.* admin_port=\([0-9][0-9]*\).*/\1/p')
  [ -n "$DEVICE_PORT" ] && [ -n "$ADMIN_PORT" ] || fail "no ports in: $LINE"
}

# Owners and admins sign in with a second factor (TOTP). ctl_enroll_totp CTL
# sets it up for the account genkanctl CTL is signed in as (after its first
# login), keeping the secret in $TMP/owner-totp; totp_code prints a fresh code
# for it (helper-totp waits for the next 30-second step when both usable ones
# are spent), e.g. GENKAN_TOTP_CODE=$(totp_code) "$CTL" login --user owner.
totp_code() {
  "$BUILD/tests/helper-totp" "$TMP/owner-totp" || fail "helper-totp could not make a code"
}
ctl_enroll_totp() {
  "$1" account totp enroll --no-confirm >"$TMP/totp-enroll.out" 2>"$TMP/totp-enroll.err" ||
    fail "account totp enroll: $(cat "$TMP/totp-enroll.err")"
  secret=$(sed -n 's/^secret  \([A-Z2-7][A-Z2-7]*\)$/\1/p' "$TMP/totp-enroll.out")
  [ -n "$secret" ] || fail "account totp enroll printed no secret: $(cat "$TMP/totp-enroll.out")"
  echo "$secret 0" >"$TMP/owner-totp"
  "$1" account totp confirm "$(totp_code)" >"$TMP/totp-confirm.out" 2>"$TMP/totp-confirm.err" ||
    fail "account totp confirm: $(cat "$TMP/totp-confirm.err")"
}
