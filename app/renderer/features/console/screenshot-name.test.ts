import { describe, expect, it } from 'vitest';
import { screenshotFileName } from './screenshot-name.js';

describe('screenshot file names', () => {
  it('are NAME-YYYYMMDD-HHMMSS.png in local time', () => {
    expect(screenshotFileName('debian-web', new Date(2025, 0, 5, 7, 8, 9))).toBe('debian-web-20250105-070809.png');
  });

  it('replace characters file systems refuse', () => {
    expect(screenshotFileName('a:b*c?"d"<e>|f\\g', new Date(2025, 11, 31, 23, 59, 59))).toBe(
      'a_b_c__d__e__f_g-20251231-235959.png',
    );
  });

  it('keep spaces and non-Latin names', () => {
    expect(screenshotFileName('Ünïcode VM 測試', new Date(2025, 5, 1, 0, 0, 0))).toBe(
      'Ünïcode VM 測試-20250601-000000.png',
    );
  });
});
