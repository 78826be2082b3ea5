import { describe, expect, it } from 'vitest';
import { isIsoPath, isoPathsFromArgv } from './open-iso.js';

describe('isoPathsFromArgv', () => {
  it('takes .iso arguments, absolute against the launching directory, and nothing else', () => {
    expect(
      isoPathsFromArgv(
        ['/opt/vmdesk/vmdesk', '--no-sandbox', 'debian.iso', '/isos/Win11.ISO', 'notes.txt', '--flag=x.iso'],
        '/home/ada/Downloads',
      ),
    ).toEqual(['/home/ada/Downloads/debian.iso', '/isos/Win11.ISO']);
  });

  it('skips the app script when run as `electron dist/shell/main.cjs`', () => {
    expect(isoPathsFromArgv(['/usr/bin/electron', 'dist/shell/main.cjs'], '/src/vmdesk')).toEqual([]);
  });

  it('knows an ISO by its extension', () => {
    expect(isIsoPath('/a/b.iso')).toBe(true);
    expect(isIsoPath('/a/b.iso.txt')).toBe(false);
  });
});
