#!/usr/bin/env bash
# README command 2 (and .ci/run): install dependencies, build, and run the whole suite with
# ctest, the package test (scripts/package-test.sh), then the suite again in an AddressSanitizer
# + UBSan build. --fast skips the package test and the sanitizer pass.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
fast=0
[ "${1:-}" = "--fast" ] && fast=1
scripts/build.sh build
(cd build && ctest --output-on-failure -j2)
# the Debian package, built, installed (in CI with dpkg -i, else unpacked under /tmp) and used
[ $fast -eq 1 ] || scripts/package-test.sh build
if [ $fast -eq 0 ]; then
  scripts/build.sh build-asan -DMIGRUN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export LSAN_OPTIONS=suppressions=$PWD/tests/harness/lsan.supp:print_suppressions=0
  # the slow fault trials (restarts, stopped backends) run in the normal pass only
  (cd build-asan && ctest --output-on-failure -j2 -LE slow)
fi
