/* global module */
// What the deb and rpm depend on, per CPU architecture. electron-builder takes one `depends` list
// per package format, not per architecture, so electron-builder.config.cjs picks the list for the
// architecture being built (`--x64` or `--arm64`, else this machine's). A `depends` list replaces
// electron-builder's defaults (the libraries Electron itself needs), so they are repeated here;
// builder-config.test.ts checks them against electron-builder's own list.
// Names: Debian 12/13 and Ubuntu 22.04+; Fedora, with openSUSE's names as rpm alternatives.
// app/main/shell/first-run.ts names the same packages for the AppImage (the test keeps them equal).

/** electron-builder 26's defaults (FpmTarget getDefaultDepends / getDefaultRecommends). */
const ELECTRON_DEB = [
  'libgtk-3-0',
  'libnotify4',
  'libnss3',
  'libxss1',
  'libxtst6',
  'xdg-utils',
  'libatspi2.0-0',
  'libuuid1',
  'libsecret-1-0',
];
const ELECTRON_DEB_RECOMMENDS = ['libappindicator3-1'];
const ELECTRON_RPM = [
  'gtk3',
  'libnotify',
  'nss',
  'libXScrnSaver',
  '(libXtst or libXtst6)',
  'xdg-utils',
  'at-spi2-core',
  '(libuuid or libuuid1)',
];

/** The QEMU system emulator and UEFI firmware for guests of the host's own architecture. */
const QEMU = {
  x64: {
    deb: ['qemu-system-x86', 'ovmf'],
    rpm: ['(qemu-system-x86-core or qemu-kvm or qemu-x86)', '(edk2-ovmf or qemu-ovmf-x86_64)'],
  },
  arm64: {
    deb: ['qemu-system-arm', 'qemu-efi-aarch64'],
    rpm: ['(qemu-system-aarch64-core or qemu-arm)', '(edk2-aarch64 or qemu-uefi-aarch64)'],
  },
};

/**
 * @param {'x64' | 'arm64'} arch
 */
function linuxPackageDependencies(arch) {
  const qemu = QEMU[arch];
  if (!qemu) throw new Error(`vmdesk's Linux packages are built for x64 or arm64, not ${arch}.`);
  return {
    deb: {
      depends: [...ELECTRON_DEB, ...qemu.deb, 'qemu-utils', 'swtpm'],
      // Debian 12's and Ubuntu 22.04's QEMU (before 8.0) ships virtiofsd in qemu-system-common;
      // later releases have the separate (Rust) virtiofsd. swtpm-tools: swtpm_setup, for
      // certificates in a TPM; vmdesk itself runs only swtpm.
      recommends: [...ELECTRON_DEB_RECOMMENDS, 'virtiofsd | qemu-system-common (<< 1:8.0)', 'swtpm-tools'],
    },
    rpm: {
      depends: [...ELECTRON_RPM, ...qemu.rpm, '(qemu-img or qemu-tools)', 'swtpm'],
      // electron-builder has no rpm recommends; fpm writes these tags into the spec as they are.
      recommends: ['virtiofsd', 'swtpm-tools'],
    },
  };
}

const ARCH_FLAGS = ['--x64', '--arm64', '--ia32', '--armv7l', '--universal'];

/**
 * The architecture the Linux packages are being built for: from electron-builder's command line,
 * else the machine's. Two at once cannot share one dependency list, so that is refused.
 * @param {readonly string[]} argv
 * @param {string} hostArch Node's process.arch
 * @returns {'x64' | 'arm64'}
 */
function linuxBuildArch(argv, hostArch) {
  const flags = argv.filter((a) => ARCH_FLAGS.includes(a));
  const linux = argv.some((a) => a === '--linux' || a === '-l' || a === '--deb' || a === '--rpm');
  if (linux && flags.length > 1) {
    throw new Error(
      `Build vmdesk's Linux packages for one architecture at a time (${flags.join(' ')} given): their QEMU dependencies differ. Run electron-builder once with --x64 and once with --arm64.`,
    );
  }
  const arch = flags.length === 1 ? flags[0].slice(2) : hostArch;
  return arch === 'arm64' ? 'arm64' : 'x64';
}

module.exports = { linuxPackageDependencies, linuxBuildArch };
