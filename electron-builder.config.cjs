/* global module, require */
// electron-builder configuration: `npx electron-builder --config electron-builder.config.cjs`
// (after `npm run build`). Packs dist/ (the built main process, preload, renderer and CLI) and
// the icons; electron-builder adds the production node_modules itself.
// CommonJS because electron-builder require()s it and package.json says "type": "module".
// No secrets here: signing and notarization read environment variables (README, Packaging).

/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS, see above */
const { Arch } = require('electron-builder');
const { linuxBuildArch, linuxPackageDependencies } = require('./build/linux/dependencies.cjs');
/* eslint-enable @typescript-eslint/no-require-imports */

/** ISO images, as freedesktop shared-mime-info names them: application/x-cd-image (glob *.iso)
 * and its alias. shared-mime-info already maps *.iso, so the packages ship no MIME XML of their
 * own (one would redefine the type for every program, with electron-builder's generic icon). */
const ISO_MIME_TYPES = ['application/x-cd-image', 'application/x-iso9660-image'];

const depsArch = linuxBuildArch(process.argv, process.arch);
const deps = linuxPackageDependencies(depsArch);

/** deb postinst / rpm %post and deb postrm / rpm %postun (they replace electron-builder's). */
const scripts = { afterInstall: 'build/linux/after-install.sh', afterRemove: 'build/linux/after-remove.sh' };

/** @type {import('electron-builder').Configuration} */
module.exports = {
  appId: 'io.github.vmdesk',
  productName: 'vmdesk',
  copyright: 'Copyright © vmdesk contributors',
  directories: { output: 'release', buildResources: 'build' },
  files: [
    'dist/**/*',
    '!dist/bench/**',
    // The renderer on the fake backend, for screenshots (scripts/build-renderer.mjs --demo).
    '!dist/renderer-demo/**',
    '!**/*.map',
    'resources/**/*',
    '!resources/generate-icons.mjs',
    'package.json',
  ],
  // Native code cannot be loaded (koffi's .node) or executed (the mdev helper) from inside the asar.
  asarUnpack: ['node_modules/koffi/**', 'resources/mdev-helper/**'],
  // koffi ships prebuilt N-API binaries: nothing to rebuild against Electron's headers.
  npmRebuild: false,
  // No mimeType: on Linux it would make electron-builder write a MIME XML (see ISO_MIME_TYPES);
  // the desktop entry gets its MimeType from linux.mimeTypes.
  fileAssociations: [
    { ext: 'iso', name: 'ISO disk image', description: 'ISO disk image', role: 'Viewer', rank: 'Alternate' },
  ],
  linux: {
    target: ['AppImage', 'deb', 'rpm'],
    // The desktop entry's Categories, MimeType and Comment are electron-builder's to write: from
    // category, mimeTypes and the package description (it overrides desktop.entry for those).
    category: 'System;Emulator;',
    icon: 'resources/icons',
    executableName: 'vmdesk',
    synopsis: 'Virtual machines on QEMU, as your own user',
    mimeTypes: ISO_MIME_TYPES,
    desktop: {
      entry: {
        Name: 'vmdesk',
        GenericName: 'Virtual Machine Manager',
        Keywords: 'VM;virtual machine;QEMU;KVM;ISO;',
        StartupWMClass: 'vmdesk',
      },
    },
  },
  // The deb/rpm dependencies were chosen for one architecture when this file was loaded; refuse
  // to package another one with them (a build driven through the API, or a second --arch).
  artifactBuildStarted: (context) => {
    const target = String(context.targetPresentableName).toLowerCase();
    const arch = Arch[context.arch];
    if ((target === 'deb' || target === 'rpm') && arch !== depsArch) {
      throw new Error(
        `The ${target} for ${arch} would get the dependencies of ${depsArch}. Build vmdesk's Linux packages with electron-builder --linux --${arch}, one architecture per run.`,
      );
    }
  },
  deb: { ...scripts, depends: deps.deb.depends, recommends: deps.deb.recommends },
  rpm: {
    ...scripts,
    depends: deps.rpm.depends,
    fpm: deps.rpm.recommends.flatMap((p) => ['--rpm-tag', `Recommends: ${p}`]),
  },
  // No options: the AppImage installs nothing; on first run vmdesk says which system packages
  // are missing (app/main/shell/first-run.ts).
  appImage: {},
  // Signing: electron-builder takes the Developer ID Application certificate from CSC_LINK (a .p12
  // file, base64 or https URL) and CSC_KEY_PASSWORD, or the keychain identity named by CSC_NAME,
  // or the first one in the keychain; with none it builds unsigned (and CSC_IDENTITY_AUTO_DISCOVERY
  // set to false skips the keychain). Notarization follows signing when APPLE_API_KEY,
  // APPLE_API_KEY_ID and APPLE_API_ISSUER, or APPLE_ID, APPLE_APP_SPECIFIC_PASSWORD and
  // APPLE_TEAM_ID, or APPLE_KEYCHAIN_PROFILE are set; without them it is skipped with a warning.
  mac: {
    target: ['dmg'],
    notarize: true,
    category: 'public.app-category.developer-tools',
    icon: 'resources/icon.png',
    hardenedRuntime: true,
    gatekeeperAssess: false,
    entitlements: 'build/entitlements.mac.plist',
    entitlementsInherit: 'build/entitlements.mac.inherit.plist',
  },
  dmg: {
    title: 'vmdesk ${version}',
  },
};
