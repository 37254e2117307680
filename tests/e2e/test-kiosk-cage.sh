#!/bin/sh
# The kiosk appliance: genkan-kiosk --fullscreen under the cage compositor
# (wlroots headless backend, software rendering), as packaging/genkan-kiosk.service
# runs it. Asserts that the app comes up on its first screen, full screen on
# cage's only output, over Wayland. cage refuses to run as root, so as root the
# test runs it as "nobody" with a copy of the binary in a temp dir.
set -eu
build=$1
kiosk="$build/kiosk/genkan-kiosk"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cp "$kiosk" "$work/genkan-kiosk"
mkdir -m 700 "$work/run" "$work/home"

run_as() {
  if [ "$(id -u)" = 0 ]; then
    chown nobody "$work/run" "$work/home"
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
  else
    "$@"
  fi
}

printf 'wait-page enroll 30000\nstate\nscreenshot %s/home/cage.png\nquit\n' "$work" >"$work/commands"
run_as env -i PATH=/usr/bin:/bin HOME="$work/home" XDG_RUNTIME_DIR="$work/run" \
  WLR_BACKENDS=headless WLR_RENDERER=pixman WLR_LIBINPUT_NO_DEVICES=1 \
  ASAN_OPTIONS="${ASAN_OPTIONS:-}" LSAN_OPTIONS="${LSAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
  cage -d -- env GDK_BACKEND=wayland GSK_RENDERER=cairo GENKAN_AUDIO_SINK=fakesink \
  "$work/genkan-kiosk" --data-dir "$work/home/kiosk" --camera none --language en --fullscreen --test-driver \
  <"$work/commands" >"$work/answers" 2>"$work/log" || {
  echo "cage or the app failed:" >&2
  cat "$work/log" >&2
  exit 1
}
cat "$work/answers"
state=$(sed -n 2p "$work/answers")
fail() { echo "FAIL: $1" >&2; cat "$work/log" >&2; exit 1; }
case $state in *'"page":"enroll"'*) ;; *) fail "the first screen is not the enrollment screen" ;; esac
case $state in *'"fullscreen":true'*) ;; *) fail "the window is not full screen" ;; esac
case $state in *'"width":1280,"height":720'*) ;; *) fail "the window does not fill cage's 1280x720 output exactly" ;; esac
[ "$(sed -n 3p "$work/answers")" = '{"ok":true}' ] || fail "no screenshot"
echo "ok: genkan-kiosk runs full screen under cage"
