import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

interface BuilderConfig {
  appId: string;
  productName: string;
  files: string[];
  asarUnpack: string[];
  fileAssociations: { ext: string; role: string; mimeType?: string }[];
  linux: { target: string[]; icon: string; desktop: { entry: Record<string, string> } };
  mac: { target: string[]; hardenedRuntime: boolean; icon: string; entitlements: string; entitlementsInherit: string };
}

const config = createRequire(import.meta.url)(path.join(root, 'electron-builder.config.cjs')) as BuilderConfig;

describe('electron-builder.config.cjs', () => {
  it('names the app and packs the build output', () => {
    expect(config.appId).toMatch(/^[a-z0-9.-]+$/);
    expect(config.productName).toBe('vmdesk');
    expect(config.files).toEqual(expect.arrayContaining(['dist/**/*', 'package.json', 'resources/**/*']));
  });

  it("keeps koffi's native module out of the asar", () => {
    expect(config.asarUnpack).toContain('node_modules/koffi/**');
  });

  it('builds an AppImage and a deb whose desktop entry opens ISOs', () => {
    expect(config.linux.target).toEqual(['AppImage', 'deb']);
    expect(config.linux.desktop.entry.Categories).toBe('System;Emulator;');
    expect(config.linux.desktop.entry.MimeType).toBe('application/x-cd-image;application/x-iso9660-image;');
    const sizes = fs.readdirSync(path.join(root, config.linux.icon));
    expect(sizes).toEqual(
      expect.arrayContaining(['16x16.png', '32x32.png', '48x48.png', '256x256.png', '512x512.png']),
    );
  });

  it('opens .iso files (Viewer)', () => {
    expect(config.fileAssociations).toContainEqual(expect.objectContaining({ ext: 'iso', role: 'Viewer' }));
  });

  it('builds a hardened dmg entitled to the Hypervisor framework', () => {
    expect(config.mac.target).toEqual(['dmg']);
    expect(config.mac.hardenedRuntime).toBe(true);
    const plist = fs.readFileSync(path.join(root, config.mac.entitlements), 'utf8');
    for (const key of ['com.apple.security.hypervisor', 'com.apple.security.cs.allow-jit']) {
      expect(plist).toMatch(new RegExp(`<key>${key.replace(/\./g, '\\.')}</key>\\s*<true/>`));
    }
    expect(fs.readFileSync(path.join(root, config.mac.entitlementsInherit), 'utf8')).not.toContain(
      'com.apple.security.hypervisor',
    );
    expect(fs.existsSync(path.join(root, config.mac.icon))).toBe(true);
  });

  it('has every icon the shell loads at run time', () => {
    for (const f of ['icon.png', 'tray.png', 'tray@2x.png', 'trayTemplate.png', 'trayTemplate@2x.png']) {
      const bytes = fs.readFileSync(path.join(root, 'resources', f));
      expect(bytes.subarray(1, 4).toString('ascii'), f).toBe('PNG');
    }
  });
});
