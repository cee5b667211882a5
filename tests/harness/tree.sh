#!/bin/sh
# tests/harness/tree.sh save|check SRC FILE: the specs leave nothing behind in the source
# tree. `save` (a ctest fixture's setup) lists the untracked and ignored files there before the
# suites run; `check` (its cleanup) fails naming every file that appeared since. Build
# directories are left out; outside a git checkout there is nothing to compare.
set -eu
mode=$1 src=$2 file=$3
list() {
  git -C "$src" status --porcelain --ignored --untracked-files=all 2>/dev/null |
    sed 's/^...//' | grep -v '^build' | sort || true
}
if ! git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  echo "not a git checkout: nothing to compare"
  exit 0
fi
case $mode in
  save) list > "$file" ;;
  check)
    new=$(list | comm -13 "$file" -)
    if [ -n "$new" ]; then
      echo "the test suites left files in the source tree:" >&2
      echo "$new" >&2
      exit 1
    fi
    echo "the source tree is as the suites found it" ;;
  *) echo "usage: tree.sh save|check SRC FILE" >&2; exit 2 ;;
esac
