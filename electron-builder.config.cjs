/* global module */
// electron-builder configuration: `npx electron-builder --config electron-builder.config.cjs`
// (after `npm run build`). Packs dist/ (the built main process, preload, renderer and CLI) and
// the icons; electron-builder adds the production node_modules itself.
// CommonJS because electron-builder require()s it and package.json says "type": "module".

/** ISO images, as freedesktop shared-mime-info names them. */
const ISO_MIME_TYPES = ['application/x-cd-image', 'application/x-iso9660-image'];

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
  fileAssociations: [
    {
      ext: 'iso',
      name: 'ISO disk image',
      description: 'ISO disk image',
      mimeType: 'application/x-iso9660-image',
      role: 'Viewer',
      rank: 'Alternate',
    },
  ],
  linux: {
    target: ['AppImage', 'deb'],
    category: 'System',
    icon: 'resources/icons',
    executableName: 'vmdesk',
    synopsis: 'Virtual machines on QEMU, as your own user',
    mimeTypes: ISO_MIME_TYPES,
    desktop: {
      entry: {
        Name: 'vmdesk',
        GenericName: 'Virtual Machine Manager',
        Comment: 'Run virtual machines on QEMU, as your own user',
        Categories: 'System;Emulator;',
        MimeType: ISO_MIME_TYPES.map((m) => `${m};`).join(''),
        Keywords: 'VM;virtual machine;QEMU;KVM;ISO;',
        StartupWMClass: 'vmdesk',
      },
    },
  },
  mac: {
    target: ['dmg'],
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
