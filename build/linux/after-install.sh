#!/bin/sh
# vmdesk's deb postinst and rpm %post (fpm --after-install), run as root on install and on every
# upgrade. It replaces electron-builder's templates/linux/after-install.tpl, so it does that
# template's work too (the /usr/bin/vmdesk link, chrome-sandbox's mode, the AppArmor profile that
# Ubuntu 24.04+ needs for Electron's sandbox, the desktop and MIME databases), and vmdesk's own:
# the mdev helper, root-owned at /usr/libexec/vmdesk/, where vmdesk, pkexec and the udev rule
# look for it (resources/mdev-helper/README.md).
#
# POSIX sh (rpm runs scriptlets with /bin/sh). No "$" + "{word}" macros anywhere: electron-builder
# substitutes those when it copies this file and stops on unknown ones; so the file installed is
# this file.
#
# Only a missing or uncopyable helper fails the install; every other step warns and goes on.
# VMDESK_PACKAGE_ROOT=/abs/dir is for tests: every path is taken under it, update-alternatives
# keeps its state there, and what would change the running kernel (apparmor_parser) is printed.
set -eu
umask 022
ROOT=${VMDESK_PACKAGE_ROOT:-}
# Never under dpkg: a test variable leaked into root's environment (sudo -E apt install) must not
# move the install elsewhere.
if [ -n "${DPKG_MAINTSCRIPT_PACKAGE:-}" ]; then ROOT=; fi
case $ROOT in '' | /*) ;; *)
  echo "vmdesk: VMDESK_PACKAGE_ROOT must be an absolute path" >&2
  exit 1
  ;;
esac
APP=$ROOT/opt/vmdesk
HELPER_SRC=$APP/resources/app.asar.unpacked/resources/mdev-helper/vmdesk-mdev-helper
HELPER_DIR=$ROOT/usr/libexec/vmdesk
HELPER=$HELPER_DIR/vmdesk-mdev-helper
LINK=$ROOT/usr/bin/vmdesk

warn() { echo "vmdesk: $*" >&2; }
has() { command -v "$1" >/dev/null 2>&1; }
system() { if [ -n "$ROOT" ]; then echo "would run: $*"; else "$@"; fi; }
alternatives() {
  if [ -n "$ROOT" ]; then
    mkdir -p "$ROOT/etc/alternatives" "$ROOT/var/lib/dpkg/alternatives"
    update-alternatives --altdir "$ROOT/etc/alternatives" --admindir "$ROOT/var/lib/dpkg/alternatives" "$@"
  else
    update-alternatives "$@"
  fi
}

# 1. The mdev helper. What pkexec and the udev rule run as root must be root's alone, the file and
# every directory above it (vmdesk checks: app/main/mdev/privileged.ts, helperTrustProblem). A
# copy renamed into place, so udev never runs half a file.
if [ ! -f "$HELPER_SRC" ]; then
  warn "this package is broken: $HELPER_SRC is missing. Reinstall vmdesk."
  exit 1
fi
if ! { mkdir -p "$HELPER_DIR" && chown 0:0 "$HELPER_DIR" && chmod 0755 "$HELPER_DIR" &&
  cp "$HELPER_SRC" "$HELPER.new" && chown 0:0 "$HELPER.new" && chmod 0755 "$HELPER.new" &&
  mv -f "$HELPER.new" "$HELPER"; }; then
  rm -f "$HELPER.new"
  warn "cannot install the mdev helper at $HELPER (see the error above); free some space or make /usr writable, then reinstall vmdesk."
  exit 1
fi

# 2. /usr/bin/vmdesk, through update-alternatives where there is one (as electron-builder does).
mkdir -p "$ROOT/usr/bin" || warn "cannot create $ROOT/usr/bin"
if has update-alternatives; then
  # A plain link left by an older package would make update-alternatives refuse.
  if [ -L "$LINK" ] && [ "$(readlink "$LINK")" != "$ROOT/etc/alternatives/vmdesk" ]; then rm -f "$LINK"; fi
  alternatives --install "$LINK" vmdesk "$APP/vmdesk" 100 >/dev/null ||
    ln -sf "$APP/vmdesk" "$LINK" || warn "cannot link $LINK to $APP/vmdesk; start vmdesk as $APP/vmdesk"
else
  ln -sf "$APP/vmdesk" "$LINK" || warn "cannot link $LINK to $APP/vmdesk; start vmdesk as $APP/vmdesk"
fi

# 3. Chromium's sandbox: setuid only where user namespaces do not work for a normal user (root
# may create one where users may not, kernel.unprivileged_userns_clone=0): tried as nobody.
if [ -L /proc/self/ns/user ] && has setpriv &&
  setpriv --reuid=65534 --regid=65534 --clear-groups unshare --user true >/dev/null 2>&1; then
  chmod 0755 "$APP/chrome-sandbox" 2>/dev/null || true
else
  chmod 4755 "$APP/chrome-sandbox" 2>/dev/null || true
fi

# 4. The AppArmor profile (Ubuntu 24.04+ restricts user namespaces to profiled programs), only
# where this AppArmor accepts it (Ubuntu 22.04's does not know abi/4.0 and needs none).
if has apparmor_status && apparmor_status --enabled >/dev/null 2>&1 && has apparmor_parser; then
  PROFILE=$APP/resources/apparmor-profile
  if apparmor_parser --skip-kernel-load --debug "$PROFILE" >/dev/null 2>&1; then
    mkdir -p "$ROOT/etc/apparmor.d" && cp -f "$PROFILE" "$ROOT/etc/apparmor.d/vmdesk" ||
      warn "cannot install the AppArmor profile; vmdesk may need --no-sandbox"
    if ! { [ -x /usr/bin/ischroot ] && /usr/bin/ischroot; }; then
      system apparmor_parser --replace --write-cache --skip-read-cache "$ROOT/etc/apparmor.d/vmdesk" ||
        warn "cannot load the AppArmor profile; it applies from the next boot"
    fi
  else
    echo "vmdesk: skipping the AppArmor profile: this version of AppArmor does not accept it"
  fi
fi

# 5. Desktop integration: "Open with vmdesk" for ISO images (the .desktop entry's MimeType).
if has update-desktop-database && [ -d "$ROOT/usr/share/applications" ]; then
  update-desktop-database -q "$ROOT/usr/share/applications" || warn "update-desktop-database failed; ISO images may not offer vmdesk until the next login"
fi
if has update-mime-database && [ -d "$ROOT/usr/share/mime/packages" ]; then
  update-mime-database "$ROOT/usr/share/mime" || warn "update-mime-database failed"
fi
exit 0
