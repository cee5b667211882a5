#!/usr/bin/env bash
# The Debian package, proved: build the .deb from a build directory (cpack -G DEB), install it,
# then use it as a newcomer would, from the installed paths only: the quick start on a sandbox
# cluster with the packaged example, the man pages, the shell completions, and the busted sets
# lua, cli and seeds run by the installed binary with its installed Lua layer (MIGRUN_LUA_PATH
# unset).
#
#   scripts/package-test.sh [--system] [BUILD_DIR]      (default: build, built if needed)
#   MIGRUN_PACKAGE_SETS="lua cli seeds"                 the busted sets it runs (.busted)
#
# Where it installs:
#   --system, or CI=true (.ci/run sets it): `dpkg -i` (then `apt-get -f install` if a dependency
#     is missing), through sudo when not root, so /usr/bin/migrun and /usr/share/... are the
#     real thing; purged again at the end unless migrun was installed before.
#   otherwise: unpacked with `dpkg -x` into a temporary root, run from there (the binary finds
#     its Lua layer beside itself), and the package's Depends are checked against what is
#     installed. Nothing outside /tmp changes, so it is safe on a developer's machine.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
system=0
[ "${CI:-}" = true ] && system=1
if [ "${1:-}" = "--system" ]; then system=1; shift; fi
dir=${1:-build}
started=$SECONDS

say() { printf 'package-test: %s\n' "$*"; }
fail() { printf 'package-test: FAILED: %s\n' "$*" >&2; exit 1; }
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)

tmp=$(mktemp -d /tmp/migrun-package-test.XXXXXX)
pgenv=$tmp/pgtest.env
bin=
purge=0
cleanup() {
  if [ -n "$bin" ] && [ -f "$pgenv" ]; then "$bin" sandbox stop --env-file "$pgenv" >/dev/null 2>&1 || true; fi
  if [ $purge -eq 1 ]; then "${sudo[@]}" dpkg --purge migrun >/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# 1. the package
scripts/build.sh "$dir"
rm -f "$dir"/migrun_*.deb
(cd "$dir" && cpack -G DEB >/dev/null)
deb=$(ls "$dir"/migrun_*.deb)
version=$(dpkg-deb -f "$deb" Version)
depends=$(dpkg-deb -f "$deb" Depends)
say "built $deb"
say "Depends: $depends"
names=$(echo "$depends" | tr '|' ',' | tr ',' '\n' | sed 's/(.*//; s/ //g')
for p in libc6 libpq5 liblua5.4-0 libreadline8 libssl3 libcurl4 lua-filesystem lua-cjson postgresql-client-15; do
  grep -qx -- "$p" <<<"$names" || fail "Depends does not name $p"
done

# 2. installed
if [ $system -eq 1 ]; then
  dpkg-query -W -f='${Status}' migrun 2>/dev/null | grep -q "install ok installed" || purge=1
  if ! "${sudo[@]}" dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1; then
    say "dpkg -i left dependencies to install: apt-get -f install"
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -f install -y -qq >/dev/null
  fi
  dpkg-query -W -f='${Status}' migrun | grep -q "install ok installed" || fail "dpkg did not install migrun"
  root=
  say "installed with dpkg -i"
else
  # every Depends item must be met by an installed package (one of its alternatives)
  IFS=',' read -ra items <<<"$depends"
  for item in "${items[@]}"; do
    met=0
    IFS='|' read -ra alts <<<"$item"
    for alt in "${alts[@]}"; do
      read -r name op want <<<"$(echo "$alt" | tr -d '()')"
      have=$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null | sed -n 's/^install ok installed //p')
      [ -n "$have" ] || continue
      if [ -z "${op:-}" ] || dpkg --compare-versions "$have" "$op" "$want"; then met=1; break; fi
    done
    [ $met -eq 1 ] || fail "Depends:$item is not met on this machine"
  done
  root=$tmp/root
  dpkg -x "$deb" "$root"
  say "unpacked into $root (run with --system, or CI=true, to install it with dpkg)"
fi
bin=$root/usr/bin/migrun
doc=$root/usr/share/doc/migrun
[ -x "$bin" ] || fail "no $bin"
unset MIGRUN_LUA_PATH
export NO_COLOR=1

# 3. as a newcomer: the version, the Lua layer it loads, the quick start
got=$("$bin" --version)
[[ "$got" == "migrun ${version%-*} "* ]] || fail "migrun --version says '$got', the package is $version"
layer=$(cd / && "$bin" -e "print(package.searchpath('migrun.cli', package.path))")
[ "$layer" = "$root/usr/bin/../share/migrun/lua/migrun/cli.lua" ] || fail "the Lua layer came from $layer"
say "$got, Lua layer $layer"
before=$(find "$doc" -printf '%p %s %T@\n' | sort)
say "\$ migrun --sandbox --load $doc/examples/quickstart/before.sql $doc/examples/quickstart/playbook.lua --yes"
(cd "$tmp" && "$bin" --sandbox --load "$doc/examples/quickstart/before.sql" \
   "$doc/examples/quickstart/playbook.lua" --yes) || fail "the quick start failed"
[ "$before" = "$(find "$doc" -printf '%p %s %T@\n' | sort)" ] || fail "the quick start wrote into $doc"

# 4. man pages (docs/docs.cmake installs them, when scdoc is there)
if [ -f docs/docs.cmake ]; then
  for page in 1:migrun 5:migrun-playbook; do
    [ -f "$root/usr/share/man/man${page%%:*}/${page#*:}.${page%%:*}.gz" ] ||
      fail "no man page ${page#*:}(${page%%:*}) (docs/docs.cmake builds them with scdoc)"
    if command -v man >/dev/null; then
      if [ $system -eq 1 ]; then where=$(man -w "${page%%:*}" "${page#*:}")
      else where=$(man -M "$root/usr/share/man" -w "${page%%:*}" "${page#*:}"); fi
      say "man -w ${page%%:*} ${page#*:}: $where"
    fi
  done
else
  say "skipped: man pages (docs/docs.cmake is not there yet)"
fi

# 5. completions where the shells look, and bash's working
for f in bash-completion/completions/migrun zsh/vendor-completions/_migrun fish/vendor_completions.d/migrun.fish; do
  [ -f "$root/usr/share/$f" ] || fail "no $root/usr/share/$f"
done
got=$(bash --norc --noprofile -c 'source "$1"; COMP_WORDS=(migrun lint --format = s); COMP_CWORD=4
  COMP_LINE="migrun lint --format=s"; COMP_POINT=${#COMP_LINE}; _migrun; echo "${COMPREPLY[*]}"' \
  bash "$root/usr/share/bash-completion/completions/migrun")
[ "$got" = "sarif" ] || fail "the installed bash completion offered '$got' for migrun lint --format=s"
say "completions installed for bash, zsh and fish"

# 6. busted sets run by the installed binary with its installed Lua layer
"$bin" sandbox start --env-file "$pgenv" >/dev/null
sh tests/harness/tree.sh save "$src" "$tmp/tree_before.txt" >/dev/null
fake_app=$dir/tests/fake_app
[[ "$fake_app" = /* ]] || fake_app=$src/$fake_app
for set in ${MIGRUN_PACKAGE_SETS-lua cli seeds}; do
  say "\$ MIGRUN_BIN=$bin migrun test --run=$set"
  t=$SECONDS
  MIGRUN_BIN=$bin MIGRUN_TEST_PGENV=$pgenv MIGRUN_SOURCE_DIR=$src MIGRUN_FAKE_APP=$fake_app \
    "$bin" test --run="$set" >"$tmp/$set.log" 2>&1 || { tail -50 "$tmp/$set.log"; fail "the $set set failed"; }
  say "$(grep -E '^[0-9]+ success' "$tmp/$set.log" | tail -1) ($((SECONDS - t))s)"
done
sh tests/harness/tree.sh check "$src" "$tmp/tree_before.txt" >/dev/null || fail "the sets left files in $src"

say "passed in $((SECONDS - started))s"
