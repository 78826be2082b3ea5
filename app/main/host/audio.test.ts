import { describe, expect, it } from 'vitest';
import { hostAudio } from './audio.js';

describe('hostAudio', () => {
  it('plays through the Pulse socket in the runtime dir (PulseAudio or PipeWire)', () => {
    const a = hostAudio({ XDG_RUNTIME_DIR: '/run/user/1000' }, 'linux', (p) => p === '/run/user/1000/pulse/native');
    expect(a).toMatchObject({ driver: 'pa' });
    expect(a.server).toBeUndefined();
  });
  it('honours PULSE_SERVER, and uses CoreAudio on macOS', () => {
    expect(hostAudio({ PULSE_SERVER: 'unix:/tmp/p' }, 'linux', () => false)).toMatchObject({
      driver: 'pa',
      server: 'unix:/tmp/p',
    });
    expect(hostAudio({}, 'darwin', () => false).driver).toBe('coreaudio');
  });
  it('says why there is no sound when no server is reachable', () => {
    expect(hostAudio({ XDG_RUNTIME_DIR: '/run/user/1000' }, 'linux', () => false)).toEqual({
      driver: 'none',
      reason: 'plays nowhere: there is no sound server for this user (/run/user/1000/pulse/native does not exist)',
    });
  });
});
