#!/usr/bin/env bash
# Builds the tiny vmdesk test guest: two ISOs from one kernel and one busybox initramfs whose
# /init is e2e/guest/init. Everything comes from Debian packages: the .debs are downloaded and
# unpacked, never installed.
#   guest.iso     boots under BIOS and under UEFI x86_64 (OVMF, Secure Boot off), both through a
#                 GRUB made here (unsigned: OVMF with Secure Boot enforced refuses it, "Access Denied").
#   guest-sb.iso  the same guest, BIOS part and all, whose UEFI entry is Debian's signed chain:
#                 shim (shim-signed, signed by Microsoft's UEFI CA) as efi/boot/bootx64.efi, which
#                 loads Debian's signed GRUB (grub-efi-amd64-signed) next to it as grubx64.efi, which
#                 loads the kernel only if Debian signed it (the cloud kernel is). So it boots under
#                 OVMF with Secure Boot enforced and Microsoft's keys enrolled (OVMF_CODE_4M.ms.fd +
#                 a copy of OVMF_VARS_4M.ms.fd, -machine smm=on, the secure pflash), and without.
#                 Under that firmware give the VM 512 MiB (256 is too little: see grub.cfg below).
# The guest (see init): serial + VGA consoles, virtio disks, AHCI CD-ROMs, virtio-net; a TPM 2.0
# behind tpm-crb or tpm-tis (/sys/class/tpm/tpm0: the drivers are built into this kernel); the
# real QEMU guest agent (qemu-ga from qemu-guest-agent, with the host's copies of the shared
# libraries it links, found by ldd) on a virtio-serial port named org.qemu.guest_agent.0.
#
# Usage: build-guest.sh -> prints the absolute paths of guest-sb.iso, then of guest.iso as the
#        last stdout line (e2e/guest/guest.ts reads them by name).
# Cache: $VMDESK_GUEST_CACHE, default <repo>/.cache/guest. Rebuilt only when the key changes: the
#        versions of the kernel, shim-signed, grub-efi-amd64-signed and qemu-guest-agent packages,
#        of the installed libraries qemu-ga depends on, of busybox and of GRUB, and the hash of
#        this script and of init. The .debs (~32 MB) stay in <cache>/debs, so editing init does
#        not download them again.
# Needs: apt-get, dpkg, busybox-static, cpio, gzip, xz, flock, ldd, grub-mkrescue (grub-pc-bin,
#        xorriso), grub-mkimage (grub-efi-amd64-bin), mformat + mcopy (mtools), and the libraries
#        qemu-guest-agent depends on (libglib2.0-0, libnuma1, libudev1, liburing2: QEMU's too).
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
#   virtio_console         virtio-serial ports -> /dev/vportNpM (the guest agent's channel)
#   tpm_crb, tpm_tis       the TPM 2.0 behind QEMU's tpm-crb / tpm-tis -> /sys/class/tpm/tpm0
# (This kernel builds the last three in, so add_module skips them; named here so a kernel that
# makes them modules still works.)
modules=(button evdev virtio_blk virtio_net ahci sr_mod isofs virtio_console tpm_crb tpm_tis)
# Loaded by init only when booted through UEFI (under BIOS efivarfs has nothing to show):
#   efivarfs               /sys/firmware/efi/efivars, where the SecureBoot variable is read
efi_modules=(efivarfs)
# The packages besides the kernel, downloaded and unpacked like it:
#   shim-signed            shimx64.efi.signed  -> guest-sb.iso efi/boot/bootx64.efi
#   grub-efi-amd64-signed  grubx64.efi.signed  -> guest-sb.iso efi/boot/grubx64.efi
#   qemu-guest-agent       /usr/sbin/qemu-ga   -> the initramfs (both ISOs)
extra_pkgs=(shim-signed grub-efi-amd64-signed qemu-guest-agent)

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
# One apt-cache call for all the packages (~0.5 s each here: the Docker image disables apt's
# binary cache). It prints, one per line:
#   K <kernel package> [<version>]   the linux-image dependency of $meta
#   P <package> <version>            each package asked for
#   D <package> ...                  what qemu-guest-agent depends on (its libraries)
apt_facts() {
  apt-cache show --no-all-versions "$meta" "${extra_pkgs[@]}" 2>/dev/null | awk -F': ' -v meta="$meta" '
    $1 == "Package" { pkg = $2 }
    $1 == "Version" { print "P", pkg, $2 }
    $1 == "Depends" {
      n = split($2, deps, /, */)
      if (pkg == meta)
        for (i = 1; i <= n; i++) if (deps[i] ~ /^linux-image-/) { split(deps[i], w, /[ ()=]+/); print "K", w[1], w[2] }
      if (pkg == "qemu-guest-agent") {
        line = "D"
        for (i = 1; i <= n; i++) { split(deps[i], w, /[ (|]+/); line = line " " w[1] }
        print line
      }
    }' || true
}
facts=$(apt_facts)
if [[ $(grep -c '^P ' <<<"$facts") -lt $((1 + ${#extra_pkgs[@]})) ]]; then
  log "apt-cache does not know $meta ${extra_pkgs[*]}: running apt-get update"
  apt-get update -qq >&2
  facts=$(apt_facts)
fi
declare -A version=() # package -> the version to download
while read -r kind name ver; do [[ $kind == P ]] && version[$name]=$ver; done <<<"$facts"
for p in "${extra_pkgs[@]}"; do
  [[ -n ${version[$p]:-} ]] || die "apt-cache does not know $p (is bookworm in the apt sources? run: apt-get update)"
done
read -r _ kpkg kpkg_version _ <<<"$(grep '^K ' <<<"$facts")"
[[ -n ${kpkg:-} ]] || die "cannot resolve the linux-image dependency of $meta (Debian ships it in bookworm-security: is that suite in the apt sources?)"
[[ -n $kpkg_version ]] ||
  kpkg_version=$(apt-cache show --no-all-versions "$kpkg" | awk '/^Version:/ && !n++ { print $2 }')
version[$kpkg]=$kpkg_version
kver=${kpkg#linux-image-} # the kernel release: lib/modules/<kver>, boot/vmlinuz-<kver>
# qemu-ga runs on the host's copies of its libraries (see the initramfs section): their installed
# versions are part of the key. (libpcre2-8-0 comes with libglib2.0-0.)
read -r _ qga_deps <<<"$(grep '^D ' <<<"$facts")"
lib_versions=()
for p in $qga_deps; do
  v=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null) ||
    die "$p is not installed: the guest agent (qemu-ga) needs its library; run: apt-get install $p"
  lib_versions+=("$p=$v")
done
busybox_version=$(dpkg-query -W -f='${Version}' busybox-static)
grub_versions=()
for p in "${grub_platforms[@]}"; do grub_versions+=("${p#*:}=$(dpkg-query -W -f='${Version}' "${p#*:}")"); done
key=$(printf '%s\n' "$kpkg=$kpkg_version" "busybox-static=$busybox_version" "${grub_versions[@]}" \
  "${lib_versions[@]}" "$(for p in "${extra_pkgs[@]}"; do echo "$p=${version[$p]}"; done)" \
  "$(sha256sum "$here/build-guest.sh" "$here/init" | cut -d' ' -f1)" | sha256sum | cut -c1-16)

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
# One builder at a time; a second invocation waits, then finds the fresh ISO.
exec 9>"$cache/.lock"
flock 9
published() { # the ISO paths, guest.iso last (see Usage)
  echo "$cache/guest-sb.iso"
  echo "$cache/guest.iso"
}
if [[ -f $cache/guest.iso && -f $cache/guest-sb.iso && $(cat "$cache/guest.key" 2>/dev/null) == "$key" ]]; then
  published
  exit 0
fi
rm -rf "$cache"/.build.* # leftovers of a killed build (we hold the lock: no build is running)
log "building (key $key: $kpkg $kpkg_version, busybox $busybox_version)"

# Build in a temp dir inside the cache (same filesystem, so the final mv is an atomic rename).
work=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- Packages ---------------------------------------------------------------------------------
# As root, apt drops to the _apt user to download, who cannot write our 0700 temp dir.
sandbox=()
[[ $EUID -eq 0 ]] && sandbox=(-o APT::Sandbox::User=root)
debs=$cache/debs
mkdir -p "$debs"
# Unpacks package $1 (at the version the key names) into $work/$2, downloading it first unless
# <cache>/debs has it. The file name spells an epoch's ":" as "%3a".
used_debs=()
unpack_deb() {
  local pkg=$1 ver=${version[$1]} deb
  deb=$(find "$debs" -maxdepth 1 -name "${pkg}_${ver//:/%3a}_*.deb" -print -quit)
  if [[ -z $deb ]]; then
    (cd "$work" && apt-get download -qq "${sandbox[@]}" "$pkg=$ver" >&2) ||
      die "cannot download $pkg=$ver (stale apt lists? run: apt-get update)"
    deb=$(find "$work" -maxdepth 1 -name "${pkg}_*.deb" -print -quit)
    mv "$deb" "$debs/" && deb=$debs/${deb##*/}
  fi
  used_debs+=("$deb")
  dpkg -x "$deb" "$work/$2"
}
unpack_deb "$kpkg" kernel
for p in "${extra_pkgs[@]}"; do unpack_deb "$p" "$p"; done
# Older versions (an older kernel is another package): only the current ones are worth keeping.
for deb in "$debs"/*.deb; do
  [[ " ${used_debs[*]} " == *" $deb "* ]] || rm -f "$deb"
done

# --- Kernel -----------------------------------------------------------------------------------
config=$work/kernel/boot/config-$kver
mdir=$work/kernel/lib/modules/$kver
# What the guest relies on being built in: serial + VGA text consoles, devtmpfs, gzip initramfs,
# the virtio PCI transport (else add virtio_pci to modules), native and ACPI PCIe hotplug.
for opt in SERIAL_8250 SERIAL_8250_CONSOLE VT VT_CONSOLE VGA_CONSOLE DEVTMPFS BLK_DEV_INITRD \
  RD_GZIP ACPI INPUT VIRTIO_PCI HOTPLUG_PCI_PCIE HOTPLUG_PCI_ACPI; do
  grep -qx "CONFIG_$opt=y" "$config" || die "$kpkg: CONFIG_$opt is not =y"
done
# guest-sb.iso: Debian's signed GRUB hands over only a kernel that shim finds signed by Debian.
# A PE image keeps its signatures in the certificate table, data directory 4 of the PE32+
# optional header: its size is the 4 bytes at 24 + 112 + 4*8 + 4 = 172 past the "PE\0\0" that
# offset 0x3c points to. (Who signed it is proved by the Secure Boot test, not here.)
vmlinuz=$work/kernel/boot/vmlinuz-$kver
pe=$(od -An -tu4 -j 60 -N 4 "$vmlinuz" | tr -d ' ')
[[ $(od -An -tu4 -j $((pe + 172)) -N 4 "$vmlinuz" | tr -d ' ') -gt 0 ]] ||
  die "$kpkg: vmlinuz-$kver carries no signature, so guest-sb.iso would not boot under Secure Boot"

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
boot_count=${#load_order[@]}
for m in "${efi_modules[@]}"; do add_module "$m"; done
printf '%s\n' "${load_order[@]:boot_count}" >"$root/etc/modules.efi"

# The guest agent: Debian's qemu-ga, dynamically linked, with the loader and the libraries ldd
# resolves on this host (bookworm's, at the paths ld.so searches by default without a cache:
# /lib/x86_64-linux-gnu, and the loader at its PT_INTERP path /lib64). ~6.5 MB unpacked, ~2.6 MB
# in the gzip initramfs. init starts it when the VM has the port (see init).
qga=$work/qemu-guest-agent/usr/sbin/qemu-ga
[[ -x $qga ]] || die "qemu-guest-agent ${version[qemu-guest-agent]} has no usr/sbin/qemu-ga"
libs=$(ldd "$qga") || die "ldd $qga failed"
if grep -q 'not found' <<<"$libs"; then
  die "qemu-ga needs libraries this host lacks: $(grep 'not found' <<<"$libs" | tr -s ' \t\n' ' ')(run: apt-get install $qga_deps)"
fi
mkdir -p "$root"/{sbin,usr/sbin,run,var/run,var/log}
install -m 755 "$qga" "$root/usr/sbin/qemu-ga"
for lib in $(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$libs"); do
  mkdir -p "$root${lib%/*}"
  cp -L "$lib" "$root$lib"
done

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
cp "$vmlinuz" "$work/iso/boot/vmlinuz"
# GRUB on both consoles so a stuck boot is visible on serial too. panic=1: a panic reboots the
# machine (tests run QEMU with -no-reboot, so it exits) instead of hanging until the timeout.
# nokaslr: under UEFI the kernel's EFI stub places the decompressed kernel itself (55 MiB,
# 2 MiB-aligned), at a random address with KASLR, else as low as it fits: the same way every boot.
# Even so, under the Secure Boot OVMF (SMM and the signed loaders take their share) 256 MiB of RAM
# is too little ("EFI stub: ERROR: Failed to decompress kernel"); 288 MiB is enough, use 512M.
cat >"$work/iso/boot/grub/grub.cfg" <<'EOF'
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
set timeout=0
menuentry "vmdesk test guest" {
  linux /boot/vmlinuz console=tty0 console=ttyS0,115200 quiet panic=1 nokaslr
  initrd /boot/initrd.gz
}
EOF
# Debian's signed GRUB (guest-sb.iso) has its first commands built in, as on Debian's installer
# CDs: unless its built-in prefix exists on the device it was loaded from (it does not: the FAT
# image holds only the two .efi files; it prints "error: file `/EFI/' not found." and goes on),
# it runs `search --file --set=root /.disk/info`, sets prefix=($root)/boot/grub and sources
# $prefix/x86_64-efi/grub.cfg, else $prefix/grub.cfg: the one above, which it can run as is
# (serial, terminal_*, linux and initrd are built into it; under Secure Boot it loads no modules).
mkdir -p "$work/iso/.disk"
echo 'vmdesk test guest' >"$work/iso/.disk/info"
# Both platforms read that grub.cfg; each gets only the GRUB modules it uses (plus what they pull
# in): a smaller ISO.
grub_modules=(linux normal serial terminal)
# UEFI: a standalone GRUB with its modules built in (efi_gop: the kernel gets the framebuffer for
# its VGA console), at the removable-media path efi/boot/bootx64.efi of a FAT image that is the
# ISO's second El Torito entry (platform EFI). "()" is the device the firmware loaded it from,
# the CD, where it finds /boot/grub/grub.cfg.
grub-mkimage -O x86_64-efi -d /usr/lib/grub/x86_64-efi -p '()/boot/grub' -o "$work/bootx64.efi" \
  iso9660 efi_gop "${grub_modules[@]}" 2>"$work/grub.log" ||
  { cat "$work/grub.log" >&2; die "grub-mkimage (x86_64-efi) failed"; }

# Makes ISO $1 whose UEFI entry is a FAT image holding the files $2... in efi/boot (name=file).
# The FAT image is sized to the files (+64 KiB for the FAT and directories), not a 2.88 MB floppy
# as grub-mkrescue makes.
make_iso() {
  local iso=$1 kib=64 f
  shift
  for f in "$@"; do kib=$((kib + ($(stat -c %s "${f#*=}") + 1023) / 1024)); done
  rm -f "$work/iso/efi.img"
  mformat -i "$work/iso/efi.img" -C -T $((kib * 2)) -h 2 -s 16 -N 0 :: &&
    mmd -i "$work/iso/efi.img" ::/efi ::/efi/boot || die "cannot make the UEFI boot image (mtools)"
  for f in "$@"; do
    mcopy -i "$work/iso/efi.img" "${f#*=}" "::/efi/boot/${f%%=*}" || die "cannot copy ${f%%=*} into the UEFI boot image (mtools)"
  done
  # BIOS, and the ISO: grub-mkrescue, given one platform by name (-d), as it accepts only one.
  # Without -d it adds every platform installed under /usr/lib/grub (i386-efi, xen, ... when
  # present), and the guest would differ from machine to machine; it has no option to name two.
  # So it makes the BIOS part, and the UEFI entry is added by its xorriso arguments.
  grub-mkrescue --quiet -d /usr/lib/grub/i386-pc -o "$work/$iso" \
    --install-modules="${grub_modules[*]}" --fonts= --locales= --themes= \
    "$work/iso" -eltorito-alt-boot -e efi.img -no-emul-boot \
    -- -volid VMDESK_TESTGUEST 2>"$work/grub.log" ||
    { cat "$work/grub.log" >&2; die "grub-mkrescue failed ($iso)"; }
}
make_iso guest.iso "bootx64.efi=$work/bootx64.efi"
# Secure Boot: shim as the removable-media loader; it loads grubx64.efi from its own directory.
make_iso guest-sb.iso \
  "bootx64.efi=$work/shim-signed/usr/lib/shim/shimx64.efi.signed" \
  "grubx64.efi=$work/grub-efi-amd64-signed/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"

# Publish: renames, so readers never see a half-written ISO; the key goes last, so a key that
# matches always describes the ISOs next to it.
cp "$here/init" "$work/init.copy" # for inspection / tests: the init packed in these ISOs
mv -f "$work/init.copy" "$cache/init"
mv -f "$work/guest-sb.iso" "$cache/guest-sb.iso"
mv -f "$work/guest.iso" "$cache/guest.iso"
echo "$key" >"$work/key" && mv -f "$work/key" "$cache/guest.key"
log "built $cache/guest.iso ($(du -h "$cache/guest.iso" | cut -f1)), $cache/guest-sb.iso ($(du -h "$cache/guest-sb.iso" | cut -f1))"
published
