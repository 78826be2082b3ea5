#!/usr/bin/env bash
# Installs, on Debian 12/13 (or Ubuntu), every system package vmdesk and its test suite use:
#   sudo bash scripts/setup-debian.sh          # the app's and the tests' packages
#   sudo bash scripts/setup-debian.sh --app    # only what the app needs at run time
# The README's set-up line and .ci/run both run it, so they cannot drift apart. It installs only
# what is missing, and never starts a daemon (the libvirt tests' daemons: e2e/support/libvirt-env.sh).
set -euo pipefail

# What the app runs: QEMU and qemu-img, UEFI firmware, a software TPM (Windows 11 guests).
app_pkgs=(qemu-system-x86 qemu-utils ovmf swtpm swtpm-tools)
# What `npm test` uses besides: the test guest's build (busybox, cpio, GRUB, xorriso, mtools), its
# guest agent, Chromium for the UI tests, libfaketime (clock jumps), osinfo-db (OS recognition),
# and libvirt + an SSH server for the libvirt-host tests (libxml2-utils: virt-xml-validate); socat
# is `npm run bench`'s serial baseline.
test_pkgs=(busybox-static cpio grub-pc-bin grub-common grub-efi-amd64-bin xorriso mtools chromium libfaketime
  osinfo-db qemu-guest-agent libvirt-daemon-system libvirt-clients openssh-server libxml2-utils socat)

pkgs=("${app_pkgs[@]}")
case "${1:-}" in
  --app) ;;
  '') pkgs+=("${test_pkgs[@]}") ;;
  *)
    echo "usage: sudo bash scripts/setup-debian.sh [--app]" >&2
    exit 2
    ;;
esac

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-debian.sh: this machine has no apt-get. On Fedora: sudo dnf install qemu-kvm qemu-img edk2-ovmf swtpm swtpm-tools; on macOS: brew install qemu." >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-debian.sh: run it as root: sudo bash scripts/setup-debian.sh" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "Every package is installed already."
fi

if [ "${1:-}" = '' ]; then
  # The test guest's kernel, shim, signed GRUB and qemu-ga are downloaded (not installed) by
  # e2e/guest/build-guest.sh: make sure the package lists know them.
  apt-cache show linux-image-6.12-cloud-amd64 shim-signed grub-efi-amd64-signed qemu-guest-agent >/dev/null 2>&1 ||
    apt-get update -qq
fi
