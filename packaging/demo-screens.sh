#!/bin/sh
# Part of the demo for machines without a desktop: starts Xvfb, opens the
# lobby kiosk (DEMO/lobby) with its test interface, walks through a visit in
# English and Japanese and saves a screenshot of each screen in
# DEMO/screenshots/. Usage: packaging/demo-screens.sh KIOSK_BINARY DEMO_DIR
set -eu
kiosk=$1
demo=$2
shots="$demo/screenshots"
mkdir -p "$shots"
work=$(mktemp -d)
app_pid= xvfb_pid=
trap 'exec 3>&- 4<&- 2>/dev/null || true; kill $app_pid $xvfb_pid 2>/dev/null || true; rm -rf "$work"' EXIT

mkfifo "$work/display"
Xvfb -displayfd 5 -screen 0 1280x800x24 -nolisten tcp 5>"$work/display" 2>/dev/null &
xvfb_pid=$!
read -r display_number <"$work/display"

mkfifo "$work/in" "$work/out"
DISPLAY=":$display_number" GDK_BACKEND=x11 GSK_RENDERER=cairo GENKAN_AUDIO_SINK=fakesink \
  "$kiosk" --data-dir "$demo/lobby" --camera none --language en --test-driver \
  <"$work/in" >"$work/out" 2>"$demo/kiosk-app.log" &
app_pid=$!
exec 3>"$work/in" 4<"$work/out"

# One command, one answer line; stops the tour on a failed step.
step() {
  printf '%s\n' "$1" >&3
  read -r answer <&4
  case $answer in
    *'"ok":true'*) ;;
    *) echo "demo: '$1' failed: $answer" >&2; exit 1 ;;
  esac
}
shot() { step "screenshot $shots/$1.png"; echo "  $shots/$1.png"; }

step "wait-page welcome 20000"
for lang in en ja; do
  step "action app.language '$lang'"
  step "wait-page welcome 5000"
  shot "$lang-1-welcome"
  step "action win.start-qr"
  step "wait-page scan 5000"
  shot "$lang-2-scan"
  step "action win.start-code"
  step "wait-page code 5000"
  shot "$lang-3-code"
  step "action win.start-walkin"
  step "wait-page walkin 5000"
  step "type walkin_name Demo Visitor"
  step "type walkin_host_search やまだ"
  step "wait-text 山田 5000"
  step "choose 0"
  shot "$lang-4-walkin"
  step "action win.walkin-next"
  step "wait-page terms 5000"
  shot "$lang-5-terms"
  step "action win.accept-terms"
  step "wait-page done 10000"
  shot "$lang-6-done"
  step "action win.start-leaving"
  step "wait-page leaving 5000"
  shot "$lang-7-leaving"
  step "action win.home"
done
step "action app.language 'en'"
step "action win.start-qr"
step "wait-page scan 5000"
step "scan-image $demo/tickets/visitor-three.png"
step "wait-page done 10000"
shot "en-8-qr-checkin"
step "quit"
wait "$app_pid" 2>/dev/null || true
echo "Screenshots of the lobby kiosk are in $shots/"
