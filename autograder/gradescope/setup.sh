#!/usr/bin/env bash
# Gradescope autograder set-up: runs once, when Gradescope builds the autograder image.
#
# The bundle (made by make_bundle.sh) unpacks into /autograder/source with:
#   ringlab/         the course repository at the term's tag (git archive)
#   hidden/          hidden checks of the exercise (optional)
#   exercise         one line: the exercise to grade, e.g. 01-sockets
#   images.tar.gz    QEMU and the guest images (optional; ringlab images export)
# QEMU and the guest images are provisioned here, so each grade only boots guests.
# Gradescope's machines offer no KVM: guests run under TCG (ringlab probes it).
set -euo pipefail

apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	python3 python3-venv python3-pip zstd xz-utils cpio ca-certificates

cd /autograder/source/ringlab
python3 -m venv .venv
.venv/bin/pip install -q -e .
# Provision into the image: later grades find everything cached.  Imported images need no
# root-only build step (debootstrap, chroot), which some containers forbid.
if [ -f /autograder/source/images.tar.gz ]; then
	.venv/bin/ringlab images import /autograder/source/images.tar.gz
else
	.venv/bin/ringlab images build
fi
.venv/bin/ringlab doctor || true  # a record in the build log of what the machine offers
