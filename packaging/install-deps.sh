#!/bin/sh
# Installs the Debian packages Genkan needs (packaging/debian-packages.txt) when any
# are missing. Safe to run again: it does nothing when everything is present.
# Usage: packaging/install-deps.sh [build|test|all]   (default: all)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
list="$here/debian-packages.txt"
want=${1:-all}

packages=$(awk -v want="$want" '
  /^[[:space:]]*#/ || /^[[:space:]]*$/ { next }
  /^\[/ { section = substr($0, 2, length($0) - 2); next }
  want == "all" || want == section || (want == "test" && section == "build") { print $1 }
' "$list")

missing=""
for p in $packages; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

if [ -z "$missing" ]; then
  echo "install-deps: all $(echo $packages | wc -w) packages present"
  exit 0
fi

echo "install-deps: installing:$missing"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# shellcheck disable=SC2086 # word splitting of the package list is intended
$sudo apt-get install -y -q --no-install-recommends $missing
