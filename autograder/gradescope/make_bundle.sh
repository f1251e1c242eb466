#!/usr/bin/env bash
# Make the Gradescope autograder zip for one exercise:
#   autograder/gradescope/make_bundle.sh 01-sockets [HIDDEN_DIR] [OUT.zip]
# The zip holds setup.sh, run_autograder, the committed course tree (git archive of
# HEAD: no local changes, no virtualenv) and the hidden checks, if any.
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
rm -f "$out"
(cd "$work" && python3 -m zipfile -c "$out" setup.sh run_autograder exercise ringlab \
	$([ -n "$hidden" ] && echo hidden))
echo "$out"
