#!/bin/sh
# genkanctl's retention commands against a real genkan-server: site retention
# show/set (the current site or a named one, bounds checked before asking),
# site delete (a wrong name, the first site and a missing --confirm refused,
# then the site gone), retention purge with its counts, and the audit trail.
# Usage: test-retention-ctl.sh BUILD_DIR
set -u

BUILD=${1:?usage: test-retention-ctl.sh BUILD_DIR}
CTL=$BUILD/sync-server/genkanctl
NEW_PW='Retention-Keeper-2026!x'

. "$(dirname "$0")/server-lib.sh"

command -v python3 >/dev/null 2>&1 || fail "'python3' is not installed (Debian: apt-get install python3)"
[ -x "$CTL" ] || fail "no genkanctl at $CTL"

mkdir -p "$TMP/home" "$TMP/xdg"
HOME=$TMP/home
XDG_CONFIG_HOME=$TMP/xdg
export HOME XDG_CONFIG_HOME
unset GENKAN_SERVER GENKAN_CA GENKAN_PASSWORD GENKAN_NEW_PASSWORD GENKAN_SITE

start_server
URL=https://127.0.0.1:$ADMIN_PORT

run() {
  name=$1
  shift
  "$CTL" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  rc=$?
}
ok() {
  run "$@"
  [ "$rc" -eq 0 ] || fail "genkanctl $* exited $rc:
$(cat "$TMP/$1.err")"
}
# refused NAME STATUS TEXT CMD...: must exit STATUS with TEXT on stderr.
refused() {
  name=$1
  want=$2
  text=$3
  shift 3
  run "$name" "$@"
  [ "$rc" -eq "$want" ] || fail "genkanctl $* exited $rc, not $want: $(cat "$TMP/$name.err")"
  grep -q -- "$text" "$TMP/$name.err" || fail "genkanctl $*: no '$text' in: $(cat "$TMP/$name.err")"
}
json_check() {
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
r = d if isinstance(d, list) or sys.argv[2] == "." else d[sys.argv[2]]
sys.exit(0 if eval(sys.argv[3]) else 3)' "$TMP/$1.out" "$2" "$3" 2>"$TMP/$1.py" ||
    fail "$1: output is not as expected ($3): $(cat "$TMP/$1.py")
$(head -c 600 "$TMP/$1.out")"
}
has_line() {
  grep -q -- "$2" "$TMP/$1.out" || fail "$1: no '$2' in: $(cat "$TMP/$1.out")"
}

INITIAL=$(cat "$DATA/initial-owner-password")
GENKAN_PASSWORD=$INITIAL GENKAN_NEW_PASSWORD=$NEW_PW \
  "$CTL" --server "$URL" --ca "$DATA/ca.crt" login --user owner --new-password >"$TMP/login.out" 2>"$TMP/login.err" ||
  fail "login: $(cat "$TMP/login.err")"
ctl_enroll_totp "$CTL"

# --- show and set: the current site by default ---------------------------------------------
ok show site retention show
has_line show '^site:          1$'
has_line show '^visitor days:  90$'
has_line show '^audit days:    400$'
ok set site retention set --visitor-days 30
has_line set '^visitor days:  30$'
has_line set '^audit days:    400$'
ok set1 site retention set 1 --audit-days 500 --json
json_check set1 . 'r["site_id"] == 1 and r["visitor_days"] == 30 and r["audit_days"] == 500'
echo "site retention show/set: ok"

# --- refusals: usage errors never reach the server, the server's are explained -------------
refused none 2 'give --visitor-days' site retention set
refused vlow 2 '1 to 3650' site retention set --visitor-days -3
refused vhigh 2 '1 to 3650' site retention set --visitor-days 3651
refused alow 2 '180 to 3650' site retention set --audit-days 179
refused badid 2 'bad site id' site retention show 1x
refused extra 2 'unexpected argument' site retention show 1 2
refused nosite 1 'no such site' site retention show 9
ok still site retention show --json
json_check still . 'r["visitor_days"] == 30 and r["audit_days"] == 500'
echo "site retention refusals: ok"

# --- site delete -------------------------------------------------------------------------------
ok add site add --name "Branch Sapporo"
[ "$(cat "$TMP/add.out")" = 2 ] || fail "site add printed $(cat "$TMP/add.out"), not 2"
ok show2 --site 2 site retention show
has_line show2 '^site:          2$'
has_line show2 '^visitor days:  90$'
ok dev-code --site 2 device enroll-code --name "Sapporo Lobby" --mode reception
refused noconfirm 2 '--confirm is required' site delete 2
refused wrongname 1 'confirm-mismatch' site delete 2 --confirm "Branch sapporo"
refused first 1 'default-site' site delete 1 --confirm "Main site"
refused gone9 1 'no such site' site delete 9 --confirm "Branch Sapporo"
ok del site delete 2 --confirm "Branch Sapporo"
has_line del '^site 2 deleted: 0 hosts, 0 invitations, 0 visits, 0 devices; 0 accounts disabled$'
ok sites site list --json
json_check sites . 'len(r) == 1 and r[0]["id"] == 1'
refused again 1 'no such site' site delete 2 --confirm "Branch Sapporo"
echo "site delete: ok"

# --- purge --------------------------------------------------------------------------------------
ok purge retention purge
has_line purge 'SITE'
has_line purge 'VISITS'
has_line purge '^audit entries purged: 0$'
ok purge-json retention purge --json
json_check purge-json . 'len(r["sites"]) == 1 and r["sites"][0]["site_id"] == 1 and r["audit_entries"] == 0'
echo "retention purge: ok"

# --- the audit trail ------------------------------------------------------------------------------
ok audit-set audit list --action retention.set --json
json_check audit-set . 'len([e for e in r if e["result"] == "ok"]) == 2 and all(e["actor"] == "owner" for e in r)'
ok audit-del audit list --action site.delete --json
json_check audit-del . 'len([e for e in r if e["result"] == "ok" and e["target"].startswith("site:2 ")]) == 1 and len([e for e in r if e["result"] == "refused"]) == 4'
ok audit-purge audit list --action retention.purge --json
json_check audit-purge . 'any(e["actor_kind"] == "system" and e["target"].startswith("visits=0 ") for e in r)'
ok verify audit verify
echo "audit: ok"
