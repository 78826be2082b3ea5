import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { shellLayout, trayIconPath } from './layout.js';

describe('shellLayout', () => {
  it('finds the renderer, the preload and the icons relative to dist/shell', () => {
    const l = shellLayout('/app/resources/app.asar/dist/shell');
    expect(l).toEqual({
      rendererDir: '/app/resources/app.asar/dist/renderer',
      preload: '/app/resources/app.asar/dist/shell/preload.cjs',
      resourcesDir: '/app/resources/app.asar/resources',
      programDir: '/app/resources/app.asar.unpacked/dist/shell',
    });
    expect(trayIconPath(l, 'darwin')).toBe(path.join(l.resourcesDir, 'trayTemplate.png'));
    expect(trayIconPath(l, 'linux')).toBe(path.join(l.resourcesDir, 'tray.png'));
  });

  it('runs programs from outside the asar; a checkout has none', () => {
    expect(shellLayout('/work/vmdesk/dist/shell').programDir).toBe('/work/vmdesk/dist/shell');
    expect(shellLayout('/opt/my.app.asar.d/dist/shell').programDir).toBe('/opt/my.app.asar.d/dist/shell');
  });
});
