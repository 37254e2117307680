#!/bin/sh
# genkanctl export visits|checkins|hosts and account export-permission
# against a real genkan-server: the file written whole with mode 0600 and the
# row count printed, --bom, filters, the permission granted and withdrawn
# (a refused export leaves an existing file untouched), the server's row
# limit, and the usage errors an operator must understand.
# Usage: test-exports-ctl.sh BUILD_DIR
set -u

BUILD=${1:?usage: test-exports-ctl.sh BUILD_DIR}
CTL=$BUILD/sync-server/genkanctl
NEW_PW='Export-Keeper-2026!x'
STAFF_PW='Staff-Export-2026!y'

. "$(dirname "$0")/server-lib.sh"

. "$(dirname "$0")/ctl-lib.sh"
ctl_start_as_owner
mkdir -p "$TMP/xdg-staff" "$TMP/out"

ok host1 host add --name "佐藤 花子" --email sato@example.com
ok host2 host add --name "=SUM(1,2)"
ok ticket ticket issue --visitor "Ada" --host "佐藤 花子" --label vip

# --- the owner exports: whole file, 0600, row count, BOM -------------------------------------
OUT=$TMP/out/hosts.csv
ok hosts export hosts --out "$OUT"
grep -q "^2 hosts rows written to $OUT\$" "$TMP/hosts.out" || fail "export hosts printed: $(cat "$TMP/hosts.out")"
[ "$(stat -c %a "$OUT")" = 600 ] || fail "the export's mode is $(stat -c %a "$OUT"), not 600"
python3 - "$OUT" <<'PY' || fail "hosts.csv is not as expected: $(cat "$OUT")"
import csv, sys
raw = open(sys.argv[1], 'rb').read()
assert not raw.startswith(b'\xef\xbb\xbf'), 'BOM without --bom'
assert raw.endswith(b'\r\n') and b'\n' not in raw.replace(b'\r\n', b''), 'lines must end in CRLF'
rows = list(csv.reader(raw.decode('utf-8').splitlines()))
assert rows[0] == ['host_id', 'name', 'reading', 'email', 'department', 'notify_channel', 'created_utc'], rows[0]
assert len(rows) == 3, rows
assert rows[1][1:4] == ['佐藤 花子', '', 'sato@example.com'], rows[1]
assert rows[2][1] == "'=SUM(1,2)", rows[2]
PY
ok hosts-bom export hosts --bom --out "$TMP/out/hosts-bom.csv"
head -c 3 "$TMP/out/hosts-bom.csv" | od -An -tx1 | grep -q "ef bb bf" || fail "--bom wrote no byte-order mark"
ok visits export visits --label vip --since 2026-01-01T00:00:00Z --until "2099-01-01 00:00" --out "$TMP/out/v.csv"
grep -q "^0 visits rows written" "$TMP/visits.out" || fail "export visits printed: $(cat "$TMP/visits.out")"
head -n 1 "$TMP/out/v.csv" | grep -q '^visit_id,kind,checked_in_utc,' || fail "visits.csv header: $(head -n 1 "$TMP/out/v.csv")"
ok checkins export checkins --out "$TMP/out/c.csv"
head -n 1 "$TMP/out/c.csv" | grep -q '^event_id,kind,time_utc,' || fail "checkins.csv header: $(head -n 1 "$TMP/out/c.csv")"
ls "$TMP/out" | grep -q XXXX && fail "a temporary file was left behind: $(ls "$TMP/out")"
ls "$TMP/out" | grep -q '\.csv\.' && fail "a temporary file was left behind: $(ls "$TMP/out")"
echo "export as owner: ok (0600, row counts, CRLF, BOM, formula defused, filters)"

# --- usage errors: nothing is asked of the server ---------------------------------------------
refused no-out 2 "--out" export hosts
refused label-hosts 2 "visits only" export hosts --label vip --out "$TMP/out/x.csv"
refused bad-since 2 "since" export visits --since yesterday --out "$TMP/out/x.csv"
refused comma-label 2 "without a comma" export visits --label a,b --out "$TMP/out/x.csv"
refused both 2 "either --allow or --deny" account export-permission owner --allow --deny
refused neither 2 "either --allow or --deny" account export-permission owner
refused reversed 1 "later than since" export visits --since 2026-02-01T00:00:00Z --until 2026-01-01T00:00:00Z \
  --out "$TMP/out/x.csv"
[ ! -e "$TMP/out/x.csv" ] || fail "a refused export wrote a file"
echo "usage errors: ok"

# --- the permission: a receptionist with and without it ---------------------------------------
ok add account add clerk --role receptionist
ONCE=$(sed -n 's/^one-time password *\([^ ]*\)$/\1/p' "$TMP/add.out")
[ -n "$ONCE" ] || fail "account add printed no one-time password: $(cat "$TMP/add.out")"
XDG_CONFIG_HOME=$TMP/xdg-staff GENKAN_PASSWORD=$ONCE GENKAN_NEW_PASSWORD=$STAFF_PW \
  "$CTL" --server "$URL" --ca "$DATA/ca.crt" login --user clerk --new-password >"$TMP/clerk.out" 2>"$TMP/clerk.err" ||
  fail "clerk login: $(cat "$TMP/clerk.err") / $(cat "$TMP/add.out")"
echo "keep me" >"$TMP/out/clerk.csv"
AS="env XDG_CONFIG_HOME=$TMP/xdg-staff"
refused clerk-refused 1 "export-not-permitted" export visits --out "$TMP/out/clerk.csv"
grep -q "account export-permission" "$TMP/clerk-refused.err" || fail "no hint on the permission: $(cat "$TMP/clerk-refused.err")"
[ "$(cat "$TMP/out/clerk.csv")" = "keep me" ] || fail "a refused export changed the existing file"
AS=
ok allow account export-permission clerk --allow
grep -q '^may export *yes' "$TMP/allow.out" || fail "export-permission --allow printed: $(cat "$TMP/allow.out")"
ok list account list --json
json_check list accounts 'any(a["username"] == "clerk" and a["may_export"] for a in r)'
AS="env XDG_CONFIG_HOME=$TMP/xdg-staff"
ok clerk-ok export hosts --out "$TMP/out/clerk.csv"
AS=
grep -q "佐藤 花子" "$TMP/out/clerk.csv" || fail "the clerk's export lacks the host"
ok deny account export-permission clerk --deny
AS="env XDG_CONFIG_HOME=$TMP/xdg-staff"
refused clerk-again 1 "export-not-permitted" export hosts --out "$TMP/out/clerk.csv"
refused clerk-grants 1 "forbidden" account export-permission clerk --allow
AS=
grep -q "佐藤 花子" "$TMP/out/clerk.csv" || fail "a refused export changed the earlier file"
refused self 1 "itself" account export-permission owner --allow
echo "export-permission: ok (refused without, allowed with, withdrawn)"

# --- every export is audited ------------------------------------------------------------------------
ok audit audit list --action export.hosts --json
json_check audit entries 'any(e["actor"] == "owner" and e["target"] == "hosts rows=2" and e["result"] == "ok" for e in r)'
json_check audit entries 'any(e["actor"] == "owner" and e["target"] == "hosts bom rows=2" for e in r)'
json_check audit entries 'any(e["actor"] == "clerk" and e["result"] == "refused" and e["reason"] == "export-not-permitted" for e in r)'
ok audit2 audit list --action account.export-permission --json
json_check audit2 entries '[e["target"] for e in r if e["result"] == "ok"] == ["clerk allow", "clerk deny"]'
json_check audit2 entries 'any(e["actor"] == "clerk" and e["result"] == "refused" and e["reason"] == "forbidden" for e in r)'
echo "audit: ok"

# --- the server's row limit: 413 with a hint to narrow the dates -------------------------------
kill "$PID"
wait "$PID" 2>/dev/null
printf '\n[exports]\nmax-rows = 1\n' >>"$DATA/genkan-server.conf"
"$SERVER" run --data-dir "$DATA" --device-port "$DEVICE_PORT" --admin-port "$ADMIN_PORT" 2>"$TMP/server.log" &
PID=$!
i=0
while ! grep -q 'event=server.listening' "$TMP/server.log" 2>/dev/null; do
  kill -0 "$PID" 2>/dev/null || fail "genkan-server exited before listening"
  i=$((i + 1))
  [ "$i" -le 200 ] || fail "genkan-server did not listen within 20 s"
  sleep 0.1
done
refused too-large 1 "narrow the dates" export hosts --out "$TMP/out/big.csv"
grep -q "export-too-large" "$TMP/too-large.err" || fail "no export-too-large: $(cat "$TMP/too-large.err")"
[ ! -e "$TMP/out/big.csv" ] || fail "a refused export wrote a file"
ok one export hosts --until 2000-01-01T00:00:00Z --out "$TMP/out/none.csv"
grep -q "^0 hosts rows" "$TMP/one.out" || fail "export with until printed: $(cat "$TMP/one.out")"
echo "row limit: ok"
echo "PASS"
