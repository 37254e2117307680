#!/bin/sh
# genkanctl's host commands against a real genkan-server: edit by name or id,
# remove, and import of a CSV file (dry run, a real run, a file with bad rows
# that prints every one as "line N, column C: reason" and changes nothing),
# with the exit codes scripts rely on.
# Usage: test-hosts-ctl.sh BUILD_DIR
set -u

BUILD=${1:?usage: test-hosts-ctl.sh BUILD_DIR}
CTL=$BUILD/sync-server/genkanctl
NEW_PW='Hosts-Keeper-2026!x'

. "$(dirname "$0")/server-lib.sh"

. "$(dirname "$0")/ctl-lib.sh"
ctl_start_as_owner
# hosts_check PY: the host list (JSON) as r must satisfy PY.
hosts_check() {
  ok list host list --json
  json_check list . "$1"
}

# --- edit ------------------------------------------------------------------------------
ok add1 host add --name "山田 太郎" --email yamada@example.jp
ok add2 host add --name "Twin" --email twin1@example.jp
ok add3 host add --name "Twin" --email twin2@example.jp
ok edit host edit "山田 太郎" --department "総務部" --reading "やまだ たろう"
grep -q '^department  総務部$' "$TMP/edit.out" || fail "host edit: no department line: $(cat "$TMP/edit.out")"
hosts_check '[h["department"] for h in r if h["name"] == "山田 太郎"] == ["総務部"]'
ok edit-clear host edit "山田 太郎" --reading ""
hosts_check '[h["reading"] for h in r if h["name"] == "山田 太郎"] == [None]'
refused edit-twin 1 "2 hosts are named Twin" host edit Twin --department x
refused edit-none 1 "no host is named Nobody" host edit Nobody --department x
refused edit-nothing 2 "nothing to change" host edit "山田 太郎"
refused edit-dup 1 "host-exists" host edit "山田 太郎" --email twin1@example.jp
refused edit-bad 1 "bad-request" host edit "山田 太郎" --email "not an address"
TWIN2=$(python3 -c 'import json, sys
print([h["id"] for h in json.load(open(sys.argv[1])) if h.get("email") == "twin2@example.jp"][0])' "$TMP/list.out")
ok edit-id host edit "$TWIN2" --name "Twin Two"
hosts_check 'sorted(h["name"] for h in r) == ["Twin", "Twin Two", "山田 太郎"]'
echo "host edit: ok"

# --- remove ------------------------------------------------------------------------------
ok remove host remove "Twin Two"
grep -q "^host $TWIN2 removed$" "$TMP/remove.out" || fail "host remove: $(cat "$TMP/remove.out")"
hosts_check 'sorted(h["name"] for h in r) == ["Twin", "山田 太郎"]'
refused remove-again 1 "not-found" host remove "$TWIN2"
refused ticket-removed 1 "not-found" ticket issue --visitor Guest --host "$TWIN2"
echo "host remove: ok"

# --- import ------------------------------------------------------------------------------
printf '\357\273\277name,reading,email,department,channel\r\n' >"$TMP/good.csv"
printf '"Suzuki, Hanako",すずき はなこ,suzuki@example.jp,"R&D ""Lab""",webhook:https://hooks.example.jp/s\r\n' >>"$TMP/good.csv"
printf '山田 太郎,やまだ たろう,YAMADA@example.jp,人事部,none\r\n' >>"$TMP/good.csv"
ok dry host import "$TMP/good.csv" --dry-run
grep -q '^dry run: 1 hosts would be added, 1 updated; nothing was changed$' "$TMP/dry.out" ||
  fail "import --dry-run: $(cat "$TMP/dry.out")"
if grep -q "gks_" "$TMP/dry.out"; then fail "a dry run printed a secret"; fi
hosts_check 'len(r) == 2 and [h["department"] for h in r if h["name"] == "山田 太郎"] == ["総務部"]'

ok import host import "$TMP/good.csv"
grep -q '^imported: 1 hosts added, 1 updated$' "$TMP/import.out" || fail "import: $(cat "$TMP/import.out")"
grep -q '^line 2: host [0-9]* webhook secret (shown only this once): gks_' "$TMP/import.out" ||
  fail "import printed no webhook secret: $(cat "$TMP/import.out")"
hosts_check 'len(r) == 3 and [h["department"] for h in r if h["name"] == "山田 太郎"] == ["人事部"]'

printf 'name,email,channel\n' >"$TMP/bad.csv"
printf 'New Person,new@example.jp,\n' >>"$TMP/bad.csv"
printf ',nobody@example.jp,\n' >>"$TMP/bad.csv"
printf 'Bad Mail,not-an-address,\n' >>"$TMP/bad.csv"
printf 'Fax,fax@example.jp,fax\n' >>"$TMP/bad.csv"
refused bad 1 "3 rows are bad: nothing was imported" host import "$TMP/bad.csv"
grep -q '^line 3, column name: ' "$TMP/bad.err" || fail "import: no line 3: $(cat "$TMP/bad.err")"
grep -q '^line 4, column email: ' "$TMP/bad.err" || fail "import: no line 4: $(cat "$TMP/bad.err")"
grep -q '^line 5, column channel: ' "$TMP/bad.err" || fail "import: no line 5: $(cat "$TMP/bad.err")"
refused bad-dry 1 "bad-rows" host import "$TMP/bad.csv" --dry-run
hosts_check 'len(r) == 3 and not [h for h in r if h["name"] == "New Person"]'

printf 'name,nickname\nA,B\n' >"$TMP/header.csv"
refused header 1 "bad-csv" host import "$TMP/header.csv"
refused missing 1 "cannot read" host import "$TMP/no-such-file.csv"
refused no-file 2 "" host import
hosts_check 'len(r) == 3'
if grep -q "nobody@example.jp\|suzuki@example.jp" "$TMP/server.log"; then
  fail "the server logged a host's e-mail address"
fi
echo "host import: ok"

# --- audit ---------------------------------------------------------------------------------
ok audit audit list --action host.import --json
python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
targets = [e["target"] for e in r]
sys.exit(0 if "dry-run added=1 updated=1" in targets and "added=1 updated=1" in targets else 3)' "$TMP/audit.out" ||
  fail "audit: no host.import entries with counts: $(head -c 600 "$TMP/audit.out")"
ok audit-edit audit list --action host.edit --json
grep -q '"host.edit"' "$TMP/audit-edit.out" || fail "audit: no host.edit"
ok audit-remove audit list --action host.remove --json
grep -q "\"target\" *: *\"$TWIN2\"" "$TMP/audit-remove.out" || fail "audit: no host.remove of $TWIN2: $(cat "$TMP/audit-remove.out")"
echo "audit: ok"
