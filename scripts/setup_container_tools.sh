#!/usr/bin/env bash
# What the runtime-image test (tests/runtime/test_image.py) needs: podman with runc, and
# debootstrap to make a base image on a machine that cannot pull from a registry.
# Debian/Ubuntu as root only; elsewhere it says so and the test skips with that reason.
set -euo pipefail
if command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null; then
  echo "setup: podman, runc and debootstrap present"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "setup: installing podman, runc and debootstrap (apt-get)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
else
  echo "setup: podman/runc/debootstrap missing and not installable here (needs root and apt-get);"
  echo "       the runtime-image test will be skipped"
  exit 0
fi
# in a VM or sandbox without the rights to raise limits, podman's default ulimits fail
# every container start; keep the limits the caller already has
mkdir -p /etc/containers
if [ -w /etc/containers ] && ! grep -qs default_ulimits /etc/containers/containers.conf; then
  printf '[containers]\ndefault_ulimits = []\n' >> /etc/containers/containers.conf
fi
