#!/bin/sh
# The store's key-encryption key kept apart from the data (GENKAN_KEK_FILE):
# init writes it there and not into the data dir; run, backup and restore use
# it; without it (or with a relative path, or another key) the server refuses
# to start with a message that says what to do, and a backup writes nothing.
# Usage: test-kek-apart.sh BUILD_DIR
set -u

BUILD=${1:?usage: test-kek-apart.sh BUILD_DIR}
. "$(dirname "$0")/server-lib.sh"

DATA=$TMP/data
KEYS=$TMP/keys
mkdir -m 700 "$KEYS"
KEK=$KEYS/master.kek

# run_until_listening DATA_DIR LOG: starts the server (env as the caller set it)
# and waits for it to listen; sets PID.
run_until_listening() {
  "$SERVER" run --data-dir "$1" --device-port 0 --admin-port 0 2>"$2" &
  PID=$!
  i=0
  while ! grep -q 'event=server.listening' "$2" 2>/dev/null; do
    kill -0 "$PID" 2>/dev/null || fail "genkan-server exited before listening: $(cat "$2")"
    i=$((i + 1))
    [ "$i" -le 300 ] || fail "genkan-server did not listen within 30 s"
    sleep 0.1
  done
}

stop_server() {
  kill "$PID" && wait "$PID"
  PID=
}

GENKAN_KEK_FILE=$KEK "$SERVER" init --data-dir "$DATA" >"$TMP/init.out" 2>&1 || fail "init: $(cat "$TMP/init.out")"
[ -f "$KEK" ] || fail "init wrote no key to GENKAN_KEK_FILE"
[ ! -e "$DATA/master.kek" ] || fail "init wrote the key into the data dir as well"
[ "$(stat -c %a "$KEK")" = 600 ] || fail "the key file is mode $(stat -c %a "$KEK"), not 600"
[ "$(stat -c %s "$KEK")" = 32 ] || fail "the key file is not 32 bytes"
echo "ok - init keeps the key apart"

# Without the key, with a relative path, with another key: refused, clearly.
"$SERVER" run --data-dir "$DATA" --device-port 0 --admin-port 0 >"$TMP/nokey.out" 2>&1 && fail "run started without its key"
grep -q "set GENKAN_KEK_FILE" "$TMP/nokey.out" || fail "no hint about GENKAN_KEK_FILE: $(cat "$TMP/nokey.out")"
GENKAN_KEK_FILE=keys/master.kek "$SERVER" run --data-dir "$DATA" >"$TMP/rel.out" 2>&1 && fail "run took a relative key path"
grep -q "must be an absolute path" "$TMP/rel.out" || fail "relative path: $(cat "$TMP/rel.out")"
head -c 32 /dev/urandom >"$KEYS/other.kek"
chmod 600 "$KEYS/other.kek"
GENKAN_KEK_FILE=$KEYS/other.kek "$SERVER" run --data-dir "$DATA" --device-port 0 --admin-port 0 >"$TMP/wrong.out" 2>&1 &&
  fail "run started with another key"
grep -q "wrong key-encryption key" "$TMP/wrong.out" || fail "wrong key: $(cat "$TMP/wrong.out")"
echo "ok - without its key the server refuses to start"

GENKAN_KEK_FILE=$KEK run_until_listening "$DATA" "$TMP/server.log"
echo "ok - the server runs with the key apart"

# Online backup and restore with the key apart.
"$SERVER" backup-key --out "$KEYS/backup.key" >/dev/null || fail "backup-key"
"$SERVER" backup --data-dir "$DATA" --out "$TMP/nokey.gkbackup" --key "$KEYS/backup.key" >"$TMP/b0.out" 2>&1 &&
  fail "backup without the store key succeeded"
[ ! -e "$TMP/nokey.gkbackup" ] || fail "a failed backup left a file"
GENKAN_KEK_FILE=$KEK "$SERVER" backup --data-dir "$DATA" --out "$TMP/b.gkbackup" --key "$KEYS/backup.key" \
  >"$TMP/b.out" 2>&1 || fail "backup: $(cat "$TMP/b.out")"
stop_server
mkdir -m 700 "$TMP/keys2"
GENKAN_KEK_FILE=$TMP/keys2/master.kek "$SERVER" restore --in "$TMP/b.gkbackup" --key "$KEYS/backup.key" \
  --data-dir "$TMP/restored" >"$TMP/r.out" 2>&1 || fail "restore: $(cat "$TMP/r.out")"
[ -f "$TMP/keys2/master.kek" ] || fail "restore wrote no key to GENKAN_KEK_FILE"
[ ! -e "$TMP/restored/master.kek" ] || fail "restore wrote the key into the data dir"
cmp -s "$KEK" "$TMP/keys2/master.kek" && fail "the restored store has the old key"
GENKAN_KEK_FILE=$TMP/keys2/master.kek run_until_listening "$TMP/restored" "$TMP/restored.log"
stop_server
echo "ok - backup and restore with the key apart"
