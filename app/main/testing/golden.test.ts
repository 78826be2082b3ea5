import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkGolden } from './golden.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-golden-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('checkGolden', () => {
  it('fails on a missing golden file, saying to run with UPDATE_GOLDENS=1, and writes nothing', () => {
    const file = path.join(dir, 'golden', 'new.argv');
    expect(() => checkGolden(file, 'a\n', {})).toThrow(
      /golden file .*new\.argv is missing\. Run the test with UPDATE_GOLDENS=1/,
    );
    expect(fs.existsSync(file)).toBe(false);
  });

  it('fails on a missing golden file outside CI too (no silent write)', () => {
    const file = path.join(dir, 'x.argv');
    expect(() => checkGolden(file, 'a\n', { CI: undefined })).toThrow(/UPDATE_GOLDENS=1/);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('matches an equal file and reports a different one with its expected text', () => {
    const file = path.join(dir, 'x.argv');
    fs.writeFileSync(file, 'a\n');
    expect(checkGolden(file, 'a\n', {})).toEqual({ status: 'match' });
    expect(checkGolden(file, 'b\n', {})).toEqual({ status: 'differs', expected: 'a\n' });
  });

  it('with UPDATE_GOLDENS=1 writes the file (creating its folder), after which it matches', () => {
    const file = path.join(dir, 'golden', 'x.argv');
    expect(checkGolden(file, 'new\n', { UPDATE_GOLDENS: '1' })).toEqual({ status: 'written' });
    expect(fs.readFileSync(file, 'utf8')).toBe('new\n');
    expect(checkGolden(file, 'new\n', {})).toEqual({ status: 'match' });
  });

  it('refuses UPDATE_GOLDENS=1 under CI', () => {
    const file = path.join(dir, 'x.argv');
    expect(() => checkGolden(file, 'a\n', { UPDATE_GOLDENS: '1', CI: 'true' })).toThrow(/refused under CI/);
    expect(fs.existsSync(file)).toBe(false);
  });
});
