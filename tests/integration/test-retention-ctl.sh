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

. "$(dirname "$0")/ctl-lib.sh"
ctl_start_as_owner

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
