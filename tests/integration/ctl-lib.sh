# Shared by the genkanctl shell tests: `. ctl-lib.sh` after server-lib.sh, with
# CTL (the genkanctl binary) and NEW_PW (the owner's new password) set. Gives
# a private HOME and XDG_CONFIG_HOME, and:
#   ctl_start_as_owner  start_server, then genkanctl signs in as the owner
#                       (changing the one-time password, enrolling TOTP); sets URL
#   run NAME CMD...     genkanctl with stdout/stderr in $TMP/NAME.out/.err; sets $rc
#                       ($AS, when set, prefixes the command: "env XDG_CONFIG_HOME=…")
#   ok NAME CMD...      as run, and the command must succeed
#   refused NAME STATUS TEXT CMD...   must exit STATUS with TEXT on stderr
#   json_check NAME KEY PYTHON-EXPR   NAME.out is one JSON document: a list of
#                       rows, the server's {"KEY": [...]}, or with KEY "." the
#                       document itself; EXPR about it (r) must hold
#   has_line NAME TEXT  NAME.out has TEXT

command -v python3 >/dev/null 2>&1 || fail "'python3' is not installed (Debian: apt-get install python3)"
[ -x "$CTL" ] || fail "no genkanctl at $CTL"

mkdir -p "$TMP/home" "$TMP/xdg"
HOME=$TMP/home
XDG_CONFIG_HOME=$TMP/xdg
export HOME XDG_CONFIG_HOME
unset GENKAN_SERVER GENKAN_CA GENKAN_PASSWORD GENKAN_NEW_PASSWORD GENKAN_SITE
AS=

run() {
  name=$1
  shift
  $AS "$CTL" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  rc=$?
}
ok() {
  run "$@"
  [ "$rc" -eq 0 ] || fail "genkanctl $* exited $rc:
$(cat "$TMP/$1.err")"
}
refused() {
  name=$1
  want=$2
  text=$3
  shift 3
  run "$name" "$@"
  [ "$rc" -eq "$want" ] || fail "genkanctl $* exited $rc, not $want: $(cat "$TMP/$name.err")"
  grep -q -- "$text" "$TMP/$name.err" || fail "genkanctl $*: no '$text' in: $(cat "$TMP/$name.err")"
}
json_check() {
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
if sys.argv[2] == ".":
    r = d
else:
    r = d if isinstance(d, list) else d[sys.argv[2]]
    assert isinstance(r, list) and all(isinstance(x, dict) for x in r)
sys.exit(0 if eval(sys.argv[3]) else 3)' "$TMP/$1.out" "$2" "$3" 2>"$TMP/$1.py" ||
    fail "$1: output is not JSON or not as expected ($3): $(cat "$TMP/$1.py")
$(head -c 600 "$TMP/$1.out")"
}
has_line() {
  grep -q -- "$2" "$TMP/$1.out" || fail "$1: no '$2' in: $(cat "$TMP/$1.out")"
}

ctl_start_as_owner() {
  start_server
  URL=https://127.0.0.1:$ADMIN_PORT
  INITIAL=$(cat "$DATA/initial-owner-password")
  GENKAN_PASSWORD=$INITIAL GENKAN_NEW_PASSWORD=$NEW_PW \
    "$CTL" --server "$URL" --ca "$DATA/ca.crt" login --user owner --new-password >"$TMP/login.out" 2>"$TMP/login.err" ||
    fail "login with --new-password: $(cat "$TMP/login.err")"
  # Owners sign in with a second factor: set it up before anything else.
  ctl_enroll_totp "$CTL"
}
