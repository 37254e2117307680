#!/bin/sh
# Every string the kiosk shows has a Japanese translation: extract the
# messages from the sources as they are now and compare with po/ja.po
# (msgcmp fails on any message missing or left untranslated there).
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$src"
xgettext --from-code=UTF-8 --keyword=_ --keyword=N_ -f po/POTFILES -o "$tmp/now.pot"
msgcmp po/ja.po "$tmp/now.pot"
msgfmt --check -o /dev/null po/ja.po
# Each file with translatable strings is listed in POTFILES.
for f in kiosk/ui/*.c kiosk/ui/*.ui; do
  if grep -q '_("\|translatable="yes"' "$f" && ! grep -qx "$f" po/POTFILES; then
    echo "$f has translatable strings but is not in po/POTFILES" >&2
    exit 1
  fi
done
echo "ok: every kiosk string is translated into Japanese"
