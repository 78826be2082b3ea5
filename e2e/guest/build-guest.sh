#!/usr/bin/env bash
# Builds the tiny vmdesk test guest: an ISO that boots under BIOS and under UEFI x86_64 (OVMF,
# Secure Boot off), both through GRUB, holding Debian's cloud kernel (the 6.12 series) and a
# busybox initramfs whose /init is e2e/guest/init. Everything comes from Debian packages: the
# kernel .deb is downloaded and unpacked, never installed.
#
# Usage: build-guest.sh            -> prints the absolute path of guest.iso as the last stdout line
# Cache: $VMDESK_GUEST_CACHE, default <repo>/.cache/guest. Rebuilt only when the key changes:
#        kernel package version + busybox + grub versions + hash of this script and of init.
#        The kernel .deb (~30 MB) stays in <cache>/debs, so editing init does not download it again.
# Needs: apt-get, dpkg, busybox-static, cpio, gzip, xz, flock, grub-mkrescue (grub-pc-bin, xorriso),
#        grub-mkimage (grub-efi-amd64-bin), mformat + mcopy (mtools).
# Root is needed only if apt-get update has to run.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${VMDESK_GUEST_CACHE:-$here/../../.cache/guest}
# The 6.12 cloud kernel (linux-image-6.12-cloud-amd64, from bookworm-security): bookworm's 6.1
# cloud kernel has no AHCI driver (CONFIG_SATA_AHCI unset), and q35's SATA controller is where
# vmdesk puts its CD-ROMs (ide-cd on bus ide.N); the generic 6.1 kernel has one but is
# xz-compressed, and decompressing it under TCG doubles the boot time (~4.5 s -> ~9.5 s, from
# start to the ready marker). This one is zstd-compressed (~6.5 s).
meta=linux-image-6.12-cloud-amd64
# What the guest sees of the VM vmdesk builds (their dependencies come along, see add_module):
#   button, evdev          the ACPI power button and the evdev nodes acpid reads it from
#   virtio_blk             virtio-blk-pci disks -> /dev/vda, /dev/vdb, ... (also hot-added ones)
#   virtio_net             the virtio-net-pci NIC -> eth0
#   ahci, sr_mod           q35's SATA controller and its ide-cd drives -> /dev/sr0, /dev/sr1, ...
#                          (sr_mod pulls in cdrom, libata and the SCSI core)
#   isofs                  mount -t iso9660 a medium
modules=(button evdev virtio_blk virtio_net ahci sr_mod isofs)

log() { echo "build-guest: $*" >&2; }
die() { log "error: $*"; exit 1; }

# GRUB for each platform the ISO boots on, named one by one (see the ISO section): checked first,
# so a missing package is named before anything else runs.
grub_platforms=(i386-pc:grub-pc-bin x86_64-efi:grub-efi-amd64-bin)
for p in "${grub_platforms[@]}"; do
  [[ -d /usr/lib/grub/${p%%:*} ]] ||
    die "/usr/lib/grub/${p%%:*} is missing: the ISO boots with GRUB for ${p%%:*}; run: apt-get install ${p#*:}"
done
command -v mformat >/dev/null && command -v mcopy >/dev/null ||
  die "mformat/mcopy are missing (they make the FAT image UEFI boots from); run: apt-get install mtools"

# --- Cache key (cheap: apt metadata only, no download) -------------------------------------
# The metapackage pins the real one:
#   "Depends: linux-image-6.12.118+deb12-cloud-amd64 (= 6.12.118-1~deb12u1)".
# One apt-cache call (~0.5 s each here: the Docker image disables apt's binary cache).
kernel_dep() { # prints "<package> [<version>]"
  apt-cache show --no-all-versions "$meta" 2>/dev/null | awk -F': ' '$1 == "Depends" {
    n = split($2, deps, /, */)
    for (i = 1; i <= n; i++) if (deps[i] ~ /^linux-image-/) { split(deps[i], w, /[ ()=]+/); print w[1], w[2] }
  }' || true
}
dep=$(kernel_dep)
if [[ -z $dep ]]; then
  log "apt-cache does not know $meta: running apt-get update"
  apt-get update -qq >&2
  dep=$(kernel_dep)
fi
read -r kpkg kpkg_version _ <<<"$dep"
[[ -n $kpkg ]] || die "cannot resolve the linux-image dependency of $meta (Debian ships it in bookworm-security: is that suite in the apt sources?)"
[[ -n $kpkg_version ]] ||
  kpkg_version=$(apt-cache show --no-all-versions "$kpkg" | awk '/^Version:/ && !n++ { print $2 }')
kver=${kpkg#linux-image-} # the kernel release: lib/modules/<kver>, boot/vmlinuz-<kver>
busybox_version=$(dpkg-query -W -f='${Version}' busybox-static)
grub_versions=()
for p in "${grub_platforms[@]}"; do grub_versions+=("${p#*:}=$(dpkg-query -W -f='${Version}' "${p#*:}")"); done
key=$(printf '%s\n' "$kpkg=$kpkg_version" "busybox-static=$busybox_version" "${grub_versions[@]}" \
  "$(sha256sum "$here/build-guest.sh" "$here/init" | cut -d' ' -f1)" | sha256sum | cut -c1-16)

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
# One builder at a time; a second invocation waits, then finds the fresh ISO.
exec 9>"$cache/.lock"
flock 9
if [[ -f $cache/guest.iso && $(cat "$cache/guest.key" 2>/dev/null) == "$key" ]]; then
  echo "$cache/guest.iso"
  exit 0
fi
rm -rf "$cache"/.build.* # leftovers of a killed build (we hold the lock: no build is running)
log "building (key $key: $kpkg $kpkg_version, busybox $busybox_version)"

# Build in a temp dir inside the cache (same filesystem, so the final mv is an atomic rename).
work=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- Kernel -----------------------------------------------------------------------------------
# As root, apt drops to the _apt user to download, who cannot write our 0700 temp dir.
sandbox=()
[[ $EUID -eq 0 ]] && sandbox=(-o APT::Sandbox::User=root)
debs=$cache/debs
mkdir -p "$debs"
deb=$(find "$debs" -maxdepth 1 -name "${kpkg}_${kpkg_version}_*.deb" -print -quit)
if [[ -z $deb ]]; then
  (cd "$work" && apt-get download -qq "${sandbox[@]}" "$kpkg=$kpkg_version" >&2) ||
    die "cannot download $kpkg=$kpkg_version (stale apt lists? run: apt-get update)"
  rm -f "$debs"/*.deb # an older kernel: only the current one is worth keeping
  deb=$(find "$work" -maxdepth 1 -name "${kpkg}_*.deb" -print -quit)
  mv "$deb" "$debs/" && deb=$debs/${deb##*/}
fi
dpkg -x "$deb" "$work/kernel"
config=$work/kernel/boot/config-$kver
mdir=$work/kernel/lib/modules/$kver
# What the guest relies on being built in: serial + VGA text consoles, devtmpfs, gzip initramfs,
# the virtio PCI transport (else add virtio_pci to modules), native and ACPI PCIe hotplug.
for opt in SERIAL_8250 SERIAL_8250_CONSOLE VT VT_CONSOLE VGA_CONSOLE DEVTMPFS BLK_DEV_INITRD \
  RD_GZIP ACPI INPUT VIRTIO_PCI HOTPLUG_PCI_PCIE HOTPLUG_PCI_ACPI; do
  grep -qx "CONFIG_$opt=y" "$config" || die "$kpkg: CONFIG_$opt is not =y"
done

# --- Initramfs --------------------------------------------------------------------------------
root=$work/root
mkdir -p "$root"/{bin,dev,etc,mnt,proc,sys,tmp,lib/modules}
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
  [[ $applet == busybox ]] || ln -s busybox "$root/bin/$applet"
done
install -m 755 "$here/init" "$root/init"

# Copies module $1 and, first, what it depends on (depends= in its .modinfo) into the initramfs,
# appending to load_order; built-in modules need nothing. Module names use _ where files may use -.
# modules.order says foo.ko; the file may be foo.ko.xz: unpacked here, as busybox insmod wants.
load_order=()
add_module() {
  local name=$1 pattern=${1//_/[-_]} rel dep ko
  [[ " ${load_order[*]} " == *" $name "* ]] && return 0
  grep -q "/$pattern\.ko\$" "$mdir/modules.builtin" && return 0
  rel=$(grep -m1 "/$pattern\.ko\$" "$mdir/modules.order") || die "$kpkg has no module $name"
  ko=$root/lib/modules/$name.ko
  if [[ -f $mdir/$rel ]]; then cp "$mdir/$rel" "$ko"
  elif [[ -f $mdir/$rel.xz ]]; then xz -dc "$mdir/$rel.xz" >"$ko"
  else die "$kpkg lists $rel but has neither it nor $rel.xz"
  fi
  for dep in $(tr '\0' '\n' <"$ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
    add_module "$dep"
  done
  load_order+=("$name")
}
for m in "${modules[@]}"; do add_module "$m"; done
printf '%s\n' "${load_order[@]}" >"$root/etc/modules"

# One newc cpio entry without data. Used for /dev/console: the kernel opens it for init's stdio
# before /init can mount devtmpfs, and mknod would need root.
newc_entry() { # name mode rdev-major rdev-minor
  printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\0' \
    0 "$2" 0 0 1 0 0 0 0 "$3" "$4" $((${#1} + 1)) 0 "$1"
  head -c $(((4 - (110 + ${#1} + 1) % 4) % 4)) /dev/zero # pad header+name to 4 bytes
}
mkdir -p "$work/iso/boot/grub"
{
  (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet)
  newc_entry dev/console $((8#020600)) 5 1 # crw------- 5,1; after the archive, so dev/ exists
  newc_entry 'TRAILER!!!' 0 0 0
} | gzip -9n >"$work/iso/boot/initrd.gz"

# --- ISO --------------------------------------------------------------------------------------
cp "$work/kernel/boot/vmlinuz-$kver" "$work/iso/boot/vmlinuz"
# GRUB on both consoles so a stuck boot is visible on serial too. panic=1: a panic reboots the
# machine (tests run QEMU with -no-reboot, so it exits) instead of hanging until the timeout.
cat >"$work/iso/boot/grub/grub.cfg" <<'EOF'
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
set timeout=0
menuentry "vmdesk test guest" {
  linux /boot/vmlinuz console=tty0 console=ttyS0,115200 quiet panic=1
  initrd /boot/initrd.gz
}
EOF
# Both platforms read that grub.cfg; each gets only the GRUB modules it uses (plus what they pull
# in): a smaller ISO.
grub_modules=(linux normal serial terminal)
# UEFI: a standalone GRUB with its modules built in (efi_gop: the kernel gets the framebuffer for
# its VGA console), at the removable-media path efi/boot/bootx64.efi of a FAT image that is the
# ISO's second El Torito entry (platform EFI). "()" is the device the firmware loaded it from,
# the CD, where it finds /boot/grub/grub.cfg. The FAT image is sized to the file (+64 KiB for
# the FAT and directories), not a 2.88 MB floppy as grub-mkrescue makes.
grub-mkimage -O x86_64-efi -d /usr/lib/grub/x86_64-efi -p '()/boot/grub' -o "$work/bootx64.efi" \
  iso9660 efi_gop "${grub_modules[@]}" 2>"$work/grub.log" ||
  { cat "$work/grub.log" >&2; die "grub-mkimage (x86_64-efi) failed"; }
kib=$((($(stat -c %s "$work/bootx64.efi") + 1023) / 1024 + 64))
mformat -i "$work/iso/efi.img" -C -T $((kib * 2)) -h 2 -s 16 -N 0 :: &&
  mmd -i "$work/iso/efi.img" ::/efi ::/efi/boot &&
  mcopy -i "$work/iso/efi.img" "$work/bootx64.efi" ::/efi/boot/bootx64.efi ||
  die "cannot make the UEFI boot image (mtools)"
# BIOS, and the ISO: grub-mkrescue, given one platform by name (-d), as it accepts only one. Without
# -d it adds every platform installed under /usr/lib/grub (i386-efi, xen, ... when present), and
# the guest would differ from machine to machine; it has no option to name two. So it makes the
# BIOS part, and the UEFI entry made above is added by its xorriso arguments.
grub-mkrescue --quiet -d /usr/lib/grub/i386-pc -o "$work/guest.iso" \
  --install-modules="${grub_modules[*]}" --fonts= --locales= --themes= \
  "$work/iso" -eltorito-alt-boot -e efi.img -no-emul-boot \
  -- -volid VMDESK_TESTGUEST 2>"$work/grub.log" ||
  { cat "$work/grub.log" >&2; die "grub-mkrescue failed"; }

# Publish: renames, so readers never see a half-written ISO; the key goes last, so a key that
# matches always describes the ISO next to it.
cp "$here/init" "$work/init.copy" # for inspection / tests: the init packed in this ISO
mv -f "$work/init.copy" "$cache/init"
mv -f "$work/guest.iso" "$cache/guest.iso"
echo "$key" >"$work/key" && mv -f "$work/key" "$cache/guest.key"
log "built $cache/guest.iso ($(du -h "$cache/guest.iso" | cut -f1))"
echo "$cache/guest.iso"
