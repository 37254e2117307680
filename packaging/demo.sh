#!/bin/sh
# Genkan demo on the embedded defaults: installs any missing Debian packages,
# builds, starts genkan-server with sample hosts and tickets, enrolls a gate
# reader and checks the sample visitors in by scanning their QR codes, then
# enrolls a lobby kiosk and opens the touchscreen app: on your desktop when
# there is one, otherwise under Xvfb, where a scripted visit is photographed
# into demo/screenshots/. The server keeps running until Ctrl-C so you can try
# genkanctl against it.
# Usage: packaging/demo.sh          (GENKAN_DEMO_DIR=... to choose where it writes)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-demo"
demo=${GENKAN_DEMO_DIR:-"$root/demo"}
device_port=${GENKAN_DEVICE_PORT:-8443}
admin_port=${GENKAN_ADMIN_PORT:-8444}

"$root/packaging/install-deps.sh" all
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target genkan-server genkanctl genkan-kiosk kiosk-translations

server="$build/sync-server/genkan-server"
ctl="$build/sync-server/genkanctl"
kiosk="$build/kiosk/genkan-kiosk"

rm -rf "$demo"
mkdir -p "$demo"
chmod 700 "$demo"
"$server" init --data-dir "$demo/server" --site "Genkan HQ" >/dev/null

"$server" run --data-dir "$demo/server" --device-port "$device_port" --admin-port "$admin_port" \
  2>"$demo/server.log" &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; wait $server_pid 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 100); do
  grep -q 'event=server.listening' "$demo/server.log" 2>/dev/null && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "demo: genkan-server did not start:" >&2
    cat "$demo/server.log" >&2
    exit 1
  fi
  sleep 0.1
done

# The owner's one-time password is changed at first sign-in, as in production.
export XDG_CONFIG_HOME="$demo/config"
export GENKAN_SERVER="https://127.0.0.1:$admin_port"
export GENKAN_CA="$demo/server/ca.crt"
GENKAN_PASSWORD=$(cat "$demo/server/initial-owner-password")
GENKAN_NEW_PASSWORD="Demo-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')!"
export GENKAN_PASSWORD GENKAN_NEW_PASSWORD
"$ctl" login --user owner --new-password >/dev/null
printf '%s\n' "$GENKAN_NEW_PASSWORD" >"$demo/owner-password"
chmod 600 "$demo/owner-password"
unset GENKAN_PASSWORD GENKAN_NEW_PASSWORD

# Owners sign in with a second factor. The demo enrolls TOTP and keeps the
# secret (0600) so you can add it to an authenticator app; the codes here are
# computed from it the way an app does (RFC 6238).
umask 077
"$ctl" account totp enroll --no-confirm >"$demo/owner-totp-enroll.txt"
umask 022
totp_secret=$(sed -n 's/^secret  \([A-Z2-7][A-Z2-7]*\)$/\1/p' "$demo/owner-totp-enroll.txt")
[ -n "$totp_secret" ] || { echo "demo: no TOTP secret from genkanctl" >&2; exit 1; }
printf '%s\n' "$totp_secret" >"$demo/owner-totp-secret"
chmod 600 "$demo/owner-totp-secret"
totp_now() {
  python3 -c 'import base64, hashlib, hmac, struct, sys, time
k = base64.b32decode(sys.argv[1])
h = hmac.new(k, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
o = h[-1] & 15
print("%06d" % ((struct.unpack(">I", h[o:o + 4])[0] & 0x7fffffff) % 1000000))' "$totp_secret"
}
"$ctl" account totp confirm "$(totp_now)" >/dev/null

"$ctl" host add --name "山田 花子" --reading "やまだ はなこ" --department "Sales" --email hanako@example.com >/dev/null
"$ctl" host add --name "Ken Sato" --reading "さとう けん" --department "Engineering" >/dev/null
mkdir -p "$demo/tickets"
"$ctl" ticket issue --visitor "Visitor One" --company "Example KK" --host "山田 花子" \
  --qr "$demo/tickets/visitor-one.png" | tail -n 1 >"$demo/tickets/visitor-one.txt"
"$ctl" ticket issue --visitor "Visitor Two" --host "Ken Sato" --multi \
  --qr "$demo/tickets/visitor-two.png" | tail -n 1 >"$demo/tickets/visitor-two.txt"

code=$("$ctl" device enroll-code --name "Front gate" --mode gate | tail -n 1)
"$kiosk" --data-dir "$demo/kiosk" enroll "$code"

echo
echo "== Scanning the sample tickets at the gate (one JSON verdict per scan) =="
for t in visitor-one visitor-two visitor-one; do
  printf '%-12s ' "$t:"
  "$kiosk" --data-dir "$demo/kiosk" scan-image "$demo/tickets/$t.png"
done
echo
echo "== Check-ins on the server =="
"$ctl" checkins list
# The lobby tablet: a reception kiosk with the site's name, terms and a PIN.
lobby_code=$("$ctl" device enroll-code --name "Lobby" --mode reception | tail -n 1)
lobby_id=$("$kiosk" --data-dir "$demo/lobby" enroll "$lobby_code" | sed -n 's/^enrolled: device \([^ ]*\).*/\1/p')
printf '%s\n' "$(od -An -N4 -tu4 /dev/urandom | tr -d ' \n' | cut -c1-6)" >"$demo/admin-pin"
chmod 600 "$demo/admin-pin"
"$ctl" device config set "$lobby_id" "site-text=Genkan HQ" \
  "terms-text=Visitors wear their badge at all times. 入館中はバッジを着用してください。" \
  "admin-pin=$(cat "$demo/admin-pin")" "host-browse=true" >/dev/null
"$kiosk" --data-dir "$demo/lobby" sync >/dev/null
"$ctl" ticket issue --visitor "Visitor Three" --company "Example KK" --host "山田 花子" \
  --qr "$demo/tickets/visitor-three.png" >"$demo/tickets/visitor-three.out"

echo
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "== Opening the lobby kiosk on your desktop (staff menu: bottom right, PIN in $demo/admin-pin) =="
  "$kiosk" --data-dir "$demo/lobby" --language en || true
else
  echo "== No desktop: running the lobby kiosk under Xvfb and photographing a visit =="
  "$root/packaging/demo-screens.sh" "$kiosk" "$demo" || echo "demo: the screenshot tour did not finish (see $demo/kiosk-app.log)" >&2
fi

echo
cat <<EOF
Genkan is running on your machine:
  admin port  https://127.0.0.1:$admin_port   (CA: $demo/server/ca.crt)
  device port https://127.0.0.1:$device_port  (mutual TLS)
  owner password: $demo/owner-password ; TOTP secret: $demo/owner-totp-secret
  (add it to an authenticator app); genkanctl is signed in:
    XDG_CONFIG_HOME=$demo/config $ctl host list
  gate reader: $demo/kiosk   (try: $kiosk --data-dir $demo/kiosk --headless, then paste
               the text of $demo/tickets/visitor-two.txt)
  lobby kiosk: $kiosk --data-dir $demo/lobby   (admin PIN in $demo/admin-pin)
Press Ctrl-C to stop the server.
EOF
wait "$server_pid"
