#!/bin/sh
# vmdesk's deb postrm and rpm %postun (fpm --after-remove), run as root. It replaces
# electron-builder's templates/linux/after-remove.tpl and undoes after-install.sh: the
# /usr/bin/vmdesk link, the AppArmor profile and the mdev helper, which the package manager does
# not know about since after-install.sh copied it.
#
# Only on removal: deb passes "remove", "purge", "abort-install" or "disappear" ($1), rpm the
# number of versions left (0). On an upgrade (deb "upgrade", "failed-upgrade", "abort-upgrade";
# rpm 1 or more) it does nothing, since the new version's after-install has already run (rpm)
# or will run (deb) and owns all of these.
#
# POSIX sh, no "$" + "{word}" macros (see after-install.sh). Never fails: by now the package's
# files are gone and a failure here would only leave the package manager stuck.
# VMDESK_PACKAGE_ROOT=/abs/dir is for tests, as in after-install.sh.
set -eu
ROOT=${VMDESK_PACKAGE_ROOT:-}
# Never under dpkg: a test variable leaked into root's environment (sudo -E apt install) must not
# move the install elsewhere.
if [ -n "${DPKG_MAINTSCRIPT_PACKAGE:-}" ]; then ROOT=; fi
case $ROOT in '' | /*) ;; *)
  echo "vmdesk: VMDESK_PACKAGE_ROOT must be an absolute path" >&2
  exit 1
  ;;
esac
case ${1:-} in
  remove | purge | abort-install | disappear | 0) ;;
  *) exit 0 ;;
esac
APP=$ROOT/opt/vmdesk
HELPER_DIR=$ROOT/usr/libexec/vmdesk
LINK=$ROOT/usr/bin/vmdesk

warn() { echo "vmdesk: $*" >&2; }
has() { command -v "$1" >/dev/null 2>&1; }
system() { if [ -n "$ROOT" ]; then echo "would run: $*"; else "$@"; fi; }
alternatives() {
  if [ -n "$ROOT" ]; then
    update-alternatives --altdir "$ROOT/etc/alternatives" --admindir "$ROOT/var/lib/dpkg/alternatives" "$@"
  else
    update-alternatives "$@"
  fi
}

# The helper (a udev rule that the helper wrote on request stays in /etc; without the helper it
# matches nothing, so every VFIO group stays root's).
rm -f "$HELPER_DIR/vmdesk-mdev-helper" "$HELPER_DIR/vmdesk-mdev-helper.new" || warn "cannot remove $HELPER_DIR/vmdesk-mdev-helper"
rmdir "$HELPER_DIR" 2>/dev/null || true

if has update-alternatives && { [ -z "$ROOT" ] || [ -d "$ROOT/var/lib/dpkg/alternatives" ]; }; then
  alternatives --remove vmdesk "$APP/vmdesk" >/dev/null 2>&1 || true
fi
# A plain link (no update-alternatives, or its fallback) pointing into the removed app.
if [ -L "$LINK" ] && [ "$(readlink "$LINK")" = "$APP/vmdesk" ]; then rm -f "$LINK"; fi

PROFILE=$ROOT/etc/apparmor.d/vmdesk
if [ -f "$PROFILE" ]; then
  if has apparmor_status && apparmor_status --enabled >/dev/null 2>&1 && has apparmor_parser &&
    ! { [ -x /usr/bin/ischroot ] && /usr/bin/ischroot; }; then
    system apparmor_parser --remove "$PROFILE" >/dev/null 2>&1 || true
  fi
  rm -f "$PROFILE" || warn "cannot remove $PROFILE"
fi

if has update-desktop-database && [ -d "$ROOT/usr/share/applications" ]; then
  update-desktop-database -q "$ROOT/usr/share/applications" || true
fi
if has update-mime-database && [ -d "$ROOT/usr/share/mime/packages" ]; then
  update-mime-database "$ROOT/usr/share/mime" || true
fi
exit 0
