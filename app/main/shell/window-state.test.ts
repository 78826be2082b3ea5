import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_SIZE,
  MIN_SIZE,
  readShellState,
  restoreBounds,
  shellStateFile,
  writeShellState,
} from './window-state.js';

let config: string;
beforeEach(() => {
  config = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-wstate-'));
});
afterEach(() => fs.rmSync(config, { recursive: true, force: true }));

const screen = { x: 0, y: 0, width: 1920, height: 1080 };
const right = { x: 1920, y: 0, width: 1280, height: 1024 };

describe('shell state file', () => {
  it('lives in the config dir and round-trips', () => {
    const file = shellStateFile({ config });
    expect(file).toBe(path.join(config, 'window-state.json'));
    writeShellState(file, { bounds: { x: 1, y: 2, width: 900, height: 600 }, maximized: true, trayNoticeShown: true });
    expect(readShellState(file)).toEqual({
      bounds: { x: 1, y: 2, width: 900, height: 600 },
      maximized: true,
      trayNoticeShown: true,
    });
  });

  it('treats a missing or damaged file as no state', () => {
    const file = shellStateFile({ config });
    expect(readShellState(file)).toEqual({});
    fs.writeFileSync(file, '{"bounds": {"x": "left", "y": 0, "width": -5, "height": 1}, "maximized": "yes"');
    expect(readShellState(file)).toEqual({});
    fs.writeFileSync(
      file,
      '{"bounds": {"x": 0, "y": 0, "width": -5, "height": 1}, "maximized": "yes", "trayNoticeShown": true}',
    );
    expect(readShellState(file)).toEqual({ trayNoticeShown: true });
  });
});

describe('restoreBounds', () => {
  it('uses the default size, centred, without saved bounds', () => {
    expect(restoreBounds(undefined, [screen])).toEqual(DEFAULT_SIZE);
  });

  it('restores a position on any display that shows the title bar', () => {
    expect(restoreBounds({ x: 100, y: 50, width: 1000, height: 700 }, [screen])).toEqual({
      x: 100,
      y: 50,
      width: 1000,
      height: 700,
    });
    expect(restoreBounds({ x: 2000, y: 100, width: 1000, height: 700 }, [screen, right])).toEqual({
      x: 2000,
      y: 100,
      width: 1000,
      height: 700,
    });
  });

  it('drops a position on a display that is gone, or with the title bar off screen', () => {
    expect(restoreBounds({ x: 2000, y: 100, width: 1000, height: 700 }, [screen])).toEqual({
      width: 1000,
      height: 700,
    });
    expect(restoreBounds({ x: 100, y: -500, width: 1000, height: 700 }, [screen])).toEqual({
      width: 1000,
      height: 700,
    });
    expect(restoreBounds({ x: 1850, y: 100, width: 1000, height: 700 }, [screen])).toEqual({
      width: 1000,
      height: 700,
    });
  });

  it('keeps the size between the minimum and the largest display', () => {
    expect(restoreBounds({ x: 0, y: 0, width: 5000, height: 3000 }, [screen, right])).toEqual({
      x: 0,
      y: 0,
      width: 1920,
      height: 1080,
    });
    expect(restoreBounds({ x: 0, y: 0, width: 100, height: 100 }, [screen])).toEqual({ x: 0, y: 0, ...MIN_SIZE });
  });
});
