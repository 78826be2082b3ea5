import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as v from 'valibot';
import { DEFAULT_SETTINGS, SETTINGS_VERSION, SettingsChangeSchema } from '../common/settings-types.js';
import { readSettings, readSettingsForEnv, settingsFile, settingsFromEnv, writeSettings } from './app-settings.js';
import { DEFAULT_LOG_CAP_BYTES } from './log-cap.js';
import { managerOptionsFromEnv } from './vm-manager.js';
import { DriverLog, setDriverLogLevel } from './driver-log.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-settings-'));
  file = settingsFile({ config: path.join(dir, 'config', 'vmdesk') });
});
afterEach(() => {
  setDriverLogLevel('debug');
  fs.rmSync(dir, { recursive: true, force: true });
});

const noEnv = {};
const writeRaw = (text: string) => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
};

describe('the settings file', () => {
  it('gives the defaults, each from "default", when there is no file', () => {
    const r = readSettings(file, noEnv);
    expect(r.values).toEqual(DEFAULT_SETTINGS);
    expect(new Set(Object.values(r.sources))).toEqual(new Set(['default']));
    expect(r.notes).toEqual([]);
  });

  it('keeps the same log cap default as the log rotation', () => {
    expect(DEFAULT_SETTINGS.logCapBytes).toBe(DEFAULT_LOG_CAP_BYTES);
  });

  it('writes a versioned file (0600) that survives a new read', () => {
    writeSettings(file, { logLevel: 'warn', webPort: 8123, defaultFirmware: 'bios' }, noEnv);
    const raw = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(raw).toEqual({ version: SETTINGS_VERSION, logLevel: 'warn', webPort: 8123, defaultFirmware: 'bios' });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const r = readSettings(file, noEnv);
    expect(r.values).toMatchObject({ logLevel: 'warn', webPort: 8123, defaultFirmware: 'bios', defaultAccel: 'auto' });
    expect(r.sources).toMatchObject({ logLevel: 'file', webPort: 'file', defaultAccel: 'default' });
  });

  it('takes a key out of the file when it is set to null (back to the default)', () => {
    writeSettings(file, { logLevel: 'warn', webPort: 8123 }, noEnv);
    const r = writeSettings(file, { logLevel: null }, noEnv);
    expect(r.values.logLevel).toBe(DEFAULT_SETTINGS.logLevel);
    expect(r.sources.logLevel).toBe('default');
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ version: 1, webPort: 8123 });
  });

  it('uses the defaults for a damaged file, says so, and moves it aside (never overwrites it) on the next change', () => {
    writeRaw('{"version": 1, "logLevel": "warn",');
    const r = readSettings(file, noEnv);
    expect(r.values).toEqual(DEFAULT_SETTINGS);
    expect(r.notes.join('\n')).toMatch(/is not valid JSON .*uses the default settings.*settings\.json\.damaged/);
    const after = writeSettings(file, { webPort: 9000 }, noEnv);
    expect(fs.readFileSync(`${file}.damaged`, 'utf8')).toBe('{"version": 1, "logLevel": "warn",');
    expect(after.notes.join('\n')).toMatch(/moved to .*settings\.json\.damaged/);
    expect(after.values.webPort).toBe(9000);
    expect(readSettings(file, noEnv).notes).toEqual([]);
  });

  it('treats a file without a version, or not an object, as damaged', () => {
    writeRaw('{"logLevel": "warn"}');
    expect(readSettings(file, noEnv).notes.join('')).toMatch(/has no valid "version"/);
    expect(readSettings(file, noEnv).values.logLevel).toBe(DEFAULT_SETTINGS.logLevel);
    writeRaw('[1, 2]');
    expect(readSettings(file, noEnv).notes.join('')).toMatch(/does not hold a JSON object/);
  });

  it('uses the default for one value it does not accept, names it, and keeps the rest', () => {
    writeRaw(JSON.stringify({ version: 1, logLevel: 'loud', webPort: 8080 }));
    const r = readSettings(file, noEnv);
    expect(r.values).toMatchObject({ logLevel: DEFAULT_SETTINGS.logLevel, webPort: 8080 });
    expect(r.notes).toEqual([
      expect.stringMatching(/^logLevel in .* is "loud": The log level is error, warn, info or debug\./),
    ]);
  });

  it("keeps a newer vmdesk's unknown keys and version when it writes, and says the file is newer", () => {
    writeRaw(JSON.stringify({ version: 7, logLevel: 'info', thumbnails: { everySeconds: 5 } }));
    const r = readSettings(file, noEnv);
    expect(r.values.logLevel).toBe('info');
    expect(r.notes.join('')).toMatch(/written by a newer vmdesk \(format 7/);
    writeSettings(file, { webPort: 8081 }, noEnv);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({
      version: 7,
      logLevel: 'info',
      thumbnails: { everySeconds: 5 },
      webPort: 8081,
    });
  });
});

describe('environment variables', () => {
  it('win over the file, and the report names the variable and what the file says', () => {
    writeSettings(file, { defaultAccel: 'kvm', logCapBytes: 1048576, logLevel: 'warn' }, noEnv);
    const env = { VMDESK_ACCEL: 'TCG', VMDESK_LOG_CAP_BYTES: '131072' };
    const r = readSettings(file, env);
    expect(r.values).toMatchObject({ defaultAccel: 'tcg', logCapBytes: 131072, logLevel: 'warn' });
    expect(r.sources).toMatchObject({ defaultAccel: 'env', logCapBytes: 'env', logLevel: 'file' });
    expect(r.env).toEqual({ defaultAccel: 'VMDESK_ACCEL', logCapBytes: 'VMDESK_LOG_CAP_BYTES' });
    expect(r.fileValues).toMatchObject({ defaultAccel: 'kvm', logCapBytes: 1048576 });
  });

  it('are ignored with a note when not understood (the file then counts)', () => {
    writeSettings(file, { logCapBytes: 1048576 }, noEnv);
    const r = readSettings(file, { VMDESK_LOG_CAP_BYTES: '1000', VMDESK_LOG_LEVEL: 'chatty', VMDESK_ACCEL: '' });
    expect(r.values.logCapBytes).toBe(1048576);
    expect(r.sources).toMatchObject({ logCapBytes: 'file', logLevel: 'default', defaultAccel: 'default' });
    expect(r.notes).toEqual([
      expect.stringMatching(/^VMDESK_LOG_LEVEL=chatty is not understood/),
      expect.stringMatching(/^VMDESK_LOG_CAP_BYTES=1000 is not understood \(The log cap must be between 64 KiB/),
    ]);
    expect(settingsFromEnv({ VMDESK_ACCEL: 'warp' }).notes[0]).toMatch(/VMDESK_ACCEL=warp is not understood/);
  });

  it('point the driver at the settings of their XDG_CONFIG_HOME: the log cap from the file, the variable first', () => {
    const config = path.join(dir, 'xdg-config');
    writeSettings(settingsFile({ config: path.join(config, 'vmdesk') }), { logCapBytes: 262144 }, noEnv);
    expect(readSettingsForEnv({ XDG_CONFIG_HOME: config }).values.logCapBytes).toBe(262144);
    expect(managerOptionsFromEnv({ XDG_CONFIG_HOME: config }).logCapBytes).toBe(262144);
    expect(managerOptionsFromEnv({ XDG_CONFIG_HOME: config, VMDESK_LOG_CAP_BYTES: '65536' }).logCapBytes).toBe(65536);
    expect(managerOptionsFromEnv({ XDG_CONFIG_HOME: path.join(dir, 'none') }).logCapBytes).toBeUndefined();
  });
});

describe('settings.set params', () => {
  it('accept known keys with valid values or null, and refuse anything else', () => {
    expect(v.safeParse(SettingsChangeSchema, { logLevel: 'info', webPort: null }).success).toBe(true);
    expect(v.safeParse(SettingsChangeSchema, { logLevel: 'loud' }).success).toBe(false);
    expect(v.safeParse(SettingsChangeSchema, { webPort: 70000 }).success).toBe(false);
    expect(v.safeParse(SettingsChangeSchema, { webListen: 'example.com' }).success).toBe(false);
    expect(v.safeParse(SettingsChangeSchema, { webListen: '::1' }).success).toBe(true);
    expect(v.safeParse(SettingsChangeSchema, { logCapBytes: 4096 }).success).toBe(false);
    expect(v.safeParse(SettingsChangeSchema, { unknownKey: 1 }).success).toBe(false);
  });
});

describe('the driver log level', () => {
  it('keeps lines at least as serious as the level, and marks lines that are not info', () => {
    const log = new DriverLog(path.join(dir, 'driver.log'));
    setDriverLogLevel('warn');
    log.write('an info line');
    log.write('a debug line', 'debug');
    log.write('a warning', 'warn');
    log.write('an error', 'error');
    setDriverLogLevel('debug');
    log.write('a debug line now kept', 'debug');
    const text = fs.readFileSync(path.join(dir, 'driver.log'), 'utf8');
    expect(text).not.toMatch(/an info line|a debug line\n/);
    expect(text).toMatch(/\] WARN a warning\n/);
    expect(text).toMatch(/\] ERROR an error\n/);
    expect(text).toMatch(/\] DEBUG a debug line now kept\n/);
  });
});
