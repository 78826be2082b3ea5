import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { classifyExit, qemuLogSinceStart, startMarker, stateFromQmpStatus } from './exit-reason.js';
import type { ExitFacts } from './exit-reason.js';

function facts(over: Partial<ExitFacts> = {}): ExitFacts {
  return { pidfileLeft: false, logSinceStart: [], ...over };
}

describe('classifyExit', () => {
  it('calls an exit without a pidfile left and without a signal line a clean stop', () => {
    expect(classifyExit(facts())).toEqual({ state: 'stopped' });
    expect(classifyExit(facts({ code: 0, signal: null }))).toEqual({ state: 'stopped' });
  });

  it('calls a left pidfile a crash', () => {
    const v = classifyExit(facts({ pidfileLeft: true, logSinceStart: ['some line'] }));
    expect(v.state).toBe('crashed');
    expect(v.reason).toMatch(/abruptly/);
    expect(v.logTail).toEqual(['some line']);
  });

  it("calls a signal from outside a crash and quotes QEMU's line", () => {
    const line = 'qemu-system-x86_64: terminating on signal 15 from pid 123 (bash)';
    const v = classifyExit(facts({ logSinceStart: ['booting', line] }));
    expect(v.state).toBe('crashed');
    expect(v.reason).toContain('terminating on signal 15 from pid 123 (bash)');
    expect(v.reason).not.toContain('qemu-system-x86_64:');
    expect(v.logTail).toEqual(['booting', line]);
  });

  it('strips the timestamp QEMU adds with -msg timestamp=on', () => {
    const line = '2025-01-02T03:04:05.678901Z qemu-system-x86_64: terminating on signal 15 from pid 123 (bash)';
    expect(classifyExit(facts({ logSinceStart: [line] })).reason).toBe(
      'QEMU was stopped from outside vmdesk (terminating on signal 15 from pid 123 (bash)).',
    );
  });

  it('calls a non-zero exit code of our child a crash', () => {
    const v = classifyExit(facts({ code: 1, signal: null }));
    expect(v.state).toBe('crashed');
    expect(v.reason).toContain('code 1');
  });

  it('calls a child killed by SIGKILL a crash', () => {
    const v = classifyExit(facts({ code: null, signal: 'SIGKILL', pidfileLeft: true }));
    expect(v.state).toBe('crashed');
    expect(v.reason).toContain('SIGKILL');
  });

  it('calls an exit after error lines a crash when QEMU was not our child', () => {
    expect(
      classifyExit(facts({ logSinceStart: ['qemu-system-x86_64: -drive x: Could not open: Permission denied error'] }))
        .state,
    ).toBe('crashed');
  });

  it('trusts a zero exit code of our child over error-looking lines', () => {
    expect(classifyExit(facts({ code: 0, logSinceStart: ['warning: something failed harmlessly'] }))).toEqual({
      state: 'stopped',
    });
  });

  it('keeps only the last 20 log lines in the tail', () => {
    const lines = Array.from({ length: 30 }, (_, i) => `line ${i}`);
    const v = classifyExit(facts({ pidfileLeft: true, logSinceStart: lines }));
    expect(v.logTail).toEqual(lines.slice(10));
  });
});

describe('qemuLogSinceStart', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-exit-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('returns only the lines after the last start marker', () => {
    const file = path.join(dir, 'qemu.log');
    fs.writeFileSync(
      file,
      [
        startMarker(new Date('2025-01-01T00:00:00Z')),
        'old run line\n',
        'qemu-system-x86_64: terminating on signal 15 from pid 1 (old)\n',
        startMarker(new Date('2025-01-02T00:00:00Z')),
        'new run line 1\n',
        '\n',
        'new run line 2\n',
      ].join(''),
    );
    expect(qemuLogSinceStart(file)).toEqual(['new run line 1', 'new run line 2']);
  });

  it('returns nothing when the newest run has written nothing yet', () => {
    const file = path.join(dir, 'qemu.log');
    fs.writeFileSync(file, `old\n${startMarker(new Date())}`);
    expect(qemuLogSinceStart(file)).toEqual([]);
  });

  it('returns every line of a log without a marker', () => {
    const file = path.join(dir, 'qemu.log');
    fs.writeFileSync(file, 'a\nb\n');
    expect(qemuLogSinceStart(file)).toEqual(['a', 'b']);
  });

  it('returns nothing for a missing log', () => {
    expect(qemuLogSinceStart(path.join(dir, 'missing.log'))).toEqual([]);
  });

  it('puts the start marker on a line of its own', () => {
    expect(startMarker(new Date('2025-01-02T03:04:05Z'))).toBe(
      '=== vmdesk: starting QEMU at 2025-01-02T03:04:05.000Z ===\n',
    );
  });
});

describe('stateFromQmpStatus', () => {
  it.each([
    ['running', 'running'],
    ['shutdown', 'stopping'],
    ['paused', 'paused'],
    ['prelaunch', 'paused'],
    ['inmigrate', 'paused'],
    ['internal-error', 'paused'],
    ['guest-panicked', 'paused'],
  ])('maps QMP status %j to %j', (status, state) => {
    expect(stateFromQmpStatus(status)).toBe(state);
  });
});
