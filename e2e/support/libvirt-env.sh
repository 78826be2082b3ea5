#!/usr/bin/env bash
# The libvirt hosts the integration tests manage: a real libvirt daemon serving qemu:///system
# (virtlogd + libvirtd, as root) and an sshd on 127.0.0.1:2222 that lets root in with a key made
# here, for qemu+ssh://root@127.0.0.1:2222/system. `.ci/run` starts them; on a development machine:
#
#   sudo bash e2e/support/libvirt-env.sh start     # idempotent
#   sudo bash e2e/support/libvirt-env.sh stop
#
# The tests read the key from $VMDESK_LIBVIRT_ENV (default /var/lib/vmdesk-test-libvirt).
set -euo pipefail

dir=${VMDESK_LIBVIRT_ENV:-/var/lib/vmdesk-test-libvirt}
port=2222

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
  if [ "$(id -u)" != 0 ]; then
    echo "libvirt-env: run as root (libvirtd for qemu:///system and sshd need it)" >&2
    exit 1
  fi
  for bin in libvirtd virtlogd virsh /usr/sbin/sshd ssh-keygen; do
    command -v "$bin" >/dev/null || { echo "libvirt-env: $bin is missing (apt install libvirt-daemon-system libvirt-clients openssh-server libxml2-utils)" >&2; exit 1; }
  done
  mkdir -p "$dir" /run/sshd /var/lib/libvirt/images
  # In a container /dev/kvm can be root:root 0600. libvirt probes QEMU with KVM as root, then finds
  # KVM unusable for its libvirt-qemu user (group kvm), throws the probe away and probes again
  # on every call (a define took 60 s). Give it the owner udev gives it on a normal host.
  if [ -c /dev/kvm ] && [ "$(stat -c %G /dev/kvm)" = root ] && getent group kvm >/dev/null; then
    chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
  fi
  chmod 0700 "$dir"
  running /run/virtlogd.pid || virtlogd -d
  running /run/libvirtd.pid || libvirtd -d
  # The daemon answers within a few seconds of starting.
  for _ in $(seq 1 50); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 0.2; done
  virsh -c qemu:///system version >/dev/null

  [ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519"
  [ -f "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/id_ed25519" -C vmdesk-tests
  cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
  chmod 0600 "$dir/authorized_keys"
  # known_hosts for the tests that check the host key instead of skipping the check.
  echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/host_ed25519.pub")" > "$dir/known_hosts"
  if ! running "$dir/sshd.pid"; then
    /usr/sbin/sshd -p "$port" -o ListenAddress=127.0.0.1 -h "$dir/host_ed25519" \
      -o AuthorizedKeysFile="$dir/authorized_keys" -o PermitRootLogin=prohibit-password \
      -o PasswordAuthentication=no -o PidFile="$dir/sshd.pid" -o UsePAM=no
  fi
  for _ in $(seq 1 50); do
    ssh -p "$port" -i "$dir/id_ed25519" -o BatchMode=yes -o UserKnownHostsFile="$dir/known_hosts" root@127.0.0.1 true 2>/dev/null && break
    sleep 0.2
  done
  virsh -c "qemu+ssh://root@127.0.0.1:$port/system?keyfile=$dir/id_ed25519&no_verify=1" version >/dev/null
  echo "libvirt-env: qemu:///system and qemu+ssh://root@127.0.0.1:$port/system are up (key $dir/id_ed25519)"
}

stop() {
  for pid in "$dir/sshd.pid" /run/libvirtd.pid /run/virtlogd.pid; do
    if running "$pid"; then kill "$(cat "$pid")"; fi
  done
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
