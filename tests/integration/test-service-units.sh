#!/bin/sh
# The systemd units in packaging/ are valid (systemd-analyze verify, with
# ExecStart pointed at the programs just built) and keep their least-privilege
# promises: a system user, no capabilities, no new privileges, a read-only
# system. A unit that stopped saying so fails here, not on a customer's server.
# Usage: test-service-units.sh BUILD_DIR
set -u

BUILD=${1:?usage: test-service-units.sh BUILD_DIR}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

command -v systemd-analyze >/dev/null 2>&1 || fail "'systemd-analyze' is not installed (Debian: apt-get install systemd)"

# verify UNIT INSTALLED-PATH BUILT-PATH
verify() {
  unit=$1
  name=$(basename "$unit")
  sed "s|$2|$3|g" "$unit" >"$TMP/$name"
  grep -q "$3" "$TMP/$name" || fail "$name does not start $2"
  systemd-analyze verify "$TMP/$name" >"$TMP/verify.out" 2>&1 || { cat "$TMP/verify.out" >&2; fail "$name: systemd-analyze verify failed"; }
  # Warnings (an unknown directive, an unsafe user) print but exit 0.
  if [ -s "$TMP/verify.out" ]; then
    cat "$TMP/verify.out" >&2
    fail "$name: systemd-analyze verify warned"
  fi
  echo "ok - $name verifies"
}

# require UNIT LINE: the unit has exactly this line.
require() {
  grep -qx "$2" "$1" || fail "$(basename "$1") lacks '$2'"
}

server=$SRC/packaging/genkan-server.service
kiosk=$SRC/packaging/genkan-kiosk.service
verify "$server" /usr/local/bin/genkan-server "$BUILD/sync-server/genkan-server"
verify "$kiosk" /usr/local/bin/genkan-kiosk "$BUILD/kiosk/genkan-kiosk"

for line in 'User=genkan' 'NoNewPrivileges=yes' 'CapabilityBoundingSet=' 'ProtectSystem=strict' \
  'ProtectHome=yes' 'PrivateDevices=yes' 'UMask=0077' 'ReadWritePaths=/var/lib/genkan' \
  'ExecStart=/usr/local/bin/genkan-server run --data-dir /var/lib/genkan' \
  'LoadCredential=master.kek:/etc/genkan/master.kek' 'Environment=GENKAN_KEK_FILE=%d/master.kek'; do
  require "$server" "$line"
done
for line in 'User=genkan-kiosk' 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'ProtectHome=yes' \
  'ReadWritePaths=/var/lib/genkan-kiosk'; do
  require "$kiosk" "$line"
done
echo "ok - least-privilege settings present"

# The server's command line is one it accepts: `run` with --data-dir.
"$BUILD/sync-server/genkan-server" run --help >"$TMP/help.out" 2>&1 || true
grep -q -- "--data-dir" "$TMP/help.out" || { cat "$TMP/help.out" >&2; fail "genkan-server run does not take --data-dir"; }
echo "ok - genkan-server run takes the unit's options"
