#!/usr/bin/env bash
# Make the Gradescope autograder zip for one exercise:
#   [IMAGES=ringlab-images.tar.gz] autograder/gradescope/make_bundle.sh 01-sockets [HIDDEN_DIR] [OUT.zip]
# The zip holds setup.sh, run_autograder, the committed course tree (git archive of
# HEAD: no local changes, no virtualenv), the hidden checks, if any, and with IMAGES the
# images of `ringlab images export` (made from the same commit), which setup.sh imports.
set -euo pipefail

exercise=$1
hidden=${2:-}
out=$(realpath "${3:-autograder-$exercise.zip}")
here=$(cd "$(dirname "$0")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cp "$here/setup.sh" "$here/run_autograder" "$work/"
mkdir "$work/ringlab"
git -C "$root" archive HEAD | tar -x -C "$work/ringlab"
# Students' programs see the course tree in the guest: leave the solutions out.
rm -rf "$work"/ringlab/exercises/*/solution
echo "$exercise" > "$work/exercise"
[ -n "$hidden" ] && cp -r "$hidden" "$work/hidden"
[ -n "${IMAGES:-}" ] && cp "$IMAGES" "$work/images.tar.gz"
rm -f "$out"
(cd "$work" && python3 -m zipfile -c "$out" setup.sh run_autograder exercise ringlab \
	$([ -n "$hidden" ] && echo hidden) $([ -n "${IMAGES:-}" ] && echo images.tar.gz))
echo "$out"
