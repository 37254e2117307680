#!/bin/sh
# genkanctl against a real genkan-server, the way an operator uses it: log in
# (changing the initial password), add a host, issue a ticket with its QR image,
# make an enrollment code, list everything as JSON, log out; and the failures an
# operator must understand. Usage: test-genkanctl.sh BUILD_DIR
set -u

BUILD=${1:?usage: test-genkanctl.sh BUILD_DIR}
CTL=$BUILD/sync-server/genkanctl
NEW_PW='Gate-Keeper-2026!x'

. "$(dirname "$0")/server-lib.sh"

for tool in python3 zbarimg; do
  command -v "$tool" >/dev/null 2>&1 || fail "'$tool' is not installed (Debian: apt-get install python3 zbar-tools)"
done

. "$(dirname "$0")/ctl-lib.sh"
ctl_start_as_owner
SESSION=$XDG_CONFIG_HOME/genkan/session
[ -f "$SESSION" ] || fail "login saved no session at $SESSION"
mode=$(stat -c %a "$SESSION")
[ "$mode" = 600 ] || fail "the session file has mode $mode, not 600"
if grep -q -- "$NEW_PW" "$SESSION" || grep -q -- "$INITIAL" "$SESSION"; then
  fail "the session file holds a password"
fi
echo "login: ok, session file mode $mode"

# --- everyday commands, using the saved session --------------------------------------------
ok host-add host add --name "Hanako Sato" --department "R&D"
ok host-list host list --json
json_check host-list hosts 'any(h["name"] == "Hanako Sato" and h["department"] == "R&D" for h in r)'

ok ticket ticket issue --visitor "Taro Yamada" --host "Hanako Sato" --qr "$TMP/t.png"
TICKET=$(tail -n 1 "$TMP/ticket.out")
case $TICKET in
  GK1:*) ;;
  *) fail "ticket issue: last line is not a GK1: ticket: $TICKET" ;;
esac
[ -s "$TMP/t.png" ] || fail "ticket issue wrote no QR image"
SCANNED=$(zbarimg --raw -q "$TMP/t.png" 2>"$TMP/zbar.err") || fail "zbarimg cannot read the ticket QR image"
[ "$SCANNED" = "$TICKET" ] || fail "the QR image holds '$SCANNED', not the printed ticket '$TICKET'"
echo "ticket issue: ok, QR image reads back as the printed ticket"

ok code device enroll-code --name Gate --mode gate
CODE=$(tail -n 1 "$TMP/code.out")
case $CODE in
  GKE1:*) ;;
  *) fail "device enroll-code: last line is not a GKE1: code: $CODE" ;;
esac

ok devices device list --json
json_check devices devices 'r == []  # the code is not used yet'
ok checkins checkins list --json
json_check checkins checkins 'r == []'
ok alerts alerts list --json
json_check alerts alerts 'r == []'
echo "lists: ok (hosts, devices, checkins, alerts as JSON)"

# --- after logout, commands say to log in --------------------------------------------------
ok logout logout
[ ! -e "$SESSION" ] || ! grep -q '^token' "$SESSION" || fail "logout left the token in $SESSION"
run after host list
[ "$rc" -ne 0 ] || fail "host list after logout exited 0"
grep -qi -e 'not logged in' -e 'login' "$TMP/after.err" ||
  fail "host list after logout does not say to log in: $(cat "$TMP/after.err")"
[ ! -s "$TMP/after.out" ] || fail "host list after logout printed on stdout: $(cat "$TMP/after.out")"
echo "after logout: exit $rc, $(head -n 1 "$TMP/after.err")"
# Naming the server explicitly: the message is about the missing session.
run after2 --server "$URL" --ca "$DATA/ca.crt" host list
[ "$rc" -ne 0 ] || fail "host list --server after logout exited 0"
grep -qi 'not logged in' "$TMP/after2.err" ||
  fail "host list --server after logout does not say 'not logged in': $(cat "$TMP/after2.err")"
[ ! -s "$TMP/after2.out" ] || fail "host list --server after logout printed on stdout: $(cat "$TMP/after2.out")"
echo "after logout, with --server: exit $rc, $(head -n 1 "$TMP/after2.err")"

# --- a wrong password ----------------------------------------------------------------------------
GENKAN_PASSWORD='Wrong-Passw0rd!' "$CTL" --server "$URL" --ca "$DATA/ca.crt" login --user owner \
  >"$TMP/wrong.out" 2>"$TMP/wrong.err"
rc=$?
[ "$rc" -ne 0 ] || fail "login with a wrong password exited 0"
[ -s "$TMP/wrong.err" ] || fail "login with a wrong password printed no message on stderr"
[ ! -s "$TMP/wrong.out" ] || fail "login with a wrong password printed on stdout: $(cat "$TMP/wrong.out")"
[ ! -e "$SESSION" ] || ! grep -q '^token' "$SESSION" || fail "a failed login saved a session"
echo "wrong password: exit $rc, $(head -n 1 "$TMP/wrong.err")"

# The right (new) password still works afterwards.
GENKAN_PASSWORD=$NEW_PW GENKAN_TOTP_CODE=$(totp_code) "$CTL" --server "$URL" --ca "$DATA/ca.crt" login --user owner \
  >"$TMP/relogin.out" \
  2>"$TMP/relogin.err" || fail "login with the new password: $(cat "$TMP/relogin.err")"

# --- a second server on a port that is taken ------------------------------------------------------
"$SERVER" init --data-dir "$TMP/data2" >"$TMP/init2.log" 2>&1 || fail "second init: $(cat "$TMP/init2.log")"
timeout 20 "$SERVER" run --data-dir "$TMP/data2" --device-port 0 --admin-port "$ADMIN_PORT" \
  >"$TMP/taken.out" 2>"$TMP/taken.err" &
EXTRA_PIDS=$!
wait "$EXTRA_PIDS"
rc=$?
EXTRA_PIDS=
[ "$rc" -ne 0 ] || fail "genkan-server run on a taken port exited 0"
[ "$rc" -ne 124 ] || fail "genkan-server run on a taken port did not exit (killed after 20 s)"
grep -qi 'already in use' "$TMP/taken.err" || fail "no clear message for a taken port: $(cat "$TMP/taken.err")"
echo "taken port: exit $rc, $(grep -i 'already in use' "$TMP/taken.err" | head -n 1)"

kill "$PID" 2>/dev/null
wait "$PID"
status=$?
PID=
[ "$status" -eq 0 ] || fail "genkan-server exited with status $status after SIGTERM"
echo "PASS: test-genkanctl"
