#!/bin/sh
# genkanctl's notification commands against a real genkan-server: a host's
# webhook (the server's secret printed once, never listed), a secret from a file
# (refused unless 0600), the site channels with an offline alert time, the
# outbox list and retry, and the usage errors an operator must understand.
# Usage: test-notify-ctl.sh BUILD_DIR
set -u

BUILD=${1:?usage: test-notify-ctl.sh BUILD_DIR}
CTL=$BUILD/sync-server/genkanctl
NEW_PW='Notify-Keeper-2026!x'

. "$(dirname "$0")/server-lib.sh"

. "$(dirname "$0")/ctl-lib.sh"
ctl_start_as_owner

ok host host add --name "山田 太郎" --email yamada@example.com

# --- a host's webhook: no secret given, the server makes one and prints it once ---------
ok hook host notify "山田 太郎" --channel webhook --url https://hooks.example.com/genkan --language en
SECRET=$(sed -n 's/^new secret   \(gks_[A-Za-z0-9_-]*\)$/\1/p' "$TMP/hook.out")
[ -n "$SECRET" ] || fail "host notify printed no new secret: $(cat "$TMP/hook.out")"
grep -q '^channel      webhook$' "$TMP/hook.out" || fail "host notify: no channel line: $(cat "$TMP/hook.out")"
ok show notify show --json
json_check show settings 'len(r) == 1 and r[0]["scope"] == "host" and r[0]["secret_set"] and r[0]["language"] == "en"'
if grep -q -- "$SECRET" "$TMP/show.out"; then fail "notify show lists the webhook secret"; fi
ok show-table notify show
grep -q "山田 太郎" "$TMP/show-table.out" || fail "notify show (table) lacks the host: $(cat "$TMP/show-table.out")"
if grep -q -- "$SECRET" "$TMP/server.log"; then
  fail "the server logged the webhook secret"
fi
echo "host notify: ok, generated secret shown once"

# --- a secret from a file: only a 0600 file is read, and then nothing is printed ---------
printf 'my-own-webhook-secret-0123\n' >"$TMP/secret"
chmod 644 "$TMP/secret"
refused open-secret 2 "secret-file" host notify "山田 太郎" --channel webhook --url https://hooks.example.com/other \
  --secret-file "$TMP/secret"
chmod 600 "$TMP/secret"
ok file-secret host notify "山田 太郎" --channel webhook --url https://hooks.example.com/other --secret-file "$TMP/secret"
if grep -q 'new secret' "$TMP/file-secret.out"; then fail "a given secret was printed back"; fi
echo "host notify --secret-file: ok, 0600 only, never printed"

# --- site channels -------------------------------------------------------------------------
ok admins notify set admins --channel slack --url https://hooks.slack.com/services/T000/B000/XXXX --offline-after 10
ok show2 notify show --json
json_check show2 settings 'any(s["scope"] == "admins" and s["offline_after_s"] == 600 and s["target"] == "https://hooks.slack.com/…" for s in r)'
if grep -q "B000" "$TMP/show2.out"; then fail "notify show prints a Slack URL's secret path"; fi
ok none notify set default --channel none
refused offline-default 2 "admins channel only" notify set default --channel none --offline-after 5
refused bad-scope 2 "SCOPE must be" notify set everyone --channel none
refused both 2 "not both" notify set security --channel slack --to a@example.com --url https://x.example.com/
refused no-channel 2 "channel is required" host notify "山田 太郎"
refused fax 1 "body.channel" notify set security --channel fax
refused plain-http 1 "https" notify set security --channel webhook --url http://hooks.example.com/x
refused no-host 1 "not-found" host notify "Nobody" --channel none
refused no-smtp 1 "smtp.host" host notify "山田 太郎" --channel email
echo "notify set: ok (scopes, offline alert time, bad input refused)"

# --- the outbox ------------------------------------------------------------------------------
ok list notifications list --json
json_check list notifications 'r == []'
ok failed notifications list --failed --json
json_check failed notifications 'r == []'
refused retry-unknown 1 "not-found" notifications retry ntf-00000000000000000000000000000000
refused retry-bad 2 "bad notification id" notifications retry 'ntf/../x'
echo "notifications list/retry: ok"

ok logout logout
refused after-logout 2 "no server configured" notify show
echo "PASS"
