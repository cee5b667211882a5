#!/usr/bin/env bash
# Install what migrun needs to build and test on Debian 12 (as root, or through sudo).
# Skips apt entirely when everything is already there, unless MIGRUN_APT_UPDATE=1.
set -euo pipefail
pkgs=(build-essential cmake pkg-config liblua5.4-dev lua5.4 libpq-dev libssl-dev
      libreadline-dev lua-filesystem lua-busted lua-cjson lua-check
      postgresql postgresql-client postgresql-contrib postgresql-15-pgtap
      libpg-query-dev libcurl4-openssl-dev scdoc chromium-headless-shell zsh fish)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ] && [ "${MIGRUN_APT_UPDATE:-0}" != 1 ]; then
  exit 0
fi
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
# the server package starts a cluster of its own on 5432; migrun never uses it
