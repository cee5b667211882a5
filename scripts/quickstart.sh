#!/usr/bin/env bash
# README command 1: install dependencies, build, and run the quick-start example on a
# throwaway sandbox PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build
exec build/bin/migrun --sandbox --load examples/quickstart/before.sql examples/quickstart/playbook.lua --yes
