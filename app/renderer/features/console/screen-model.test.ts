import { describe, expect, it } from 'vitest';
import { clipboardAvailability, guestFollowsWindow, sizingTitle } from './screen-model.js';

describe('the screen follows the window', () => {
  it('only with a virtio GPU, and says why not with standard VGA', () => {
    expect(guestFollowsWindow('virtio')).toBe(true);
    expect(guestFollowsWindow('std')).toBe(false);
    expect(sizingTitle('std', 'resize')).toMatch(/standard VGA.*scaled/);
    expect(sizingTitle('virtio', 'resize')).toMatch(/take the window’s size/);
  });
});

describe('Paste to guest', () => {
  const ok = { connected: true, paused: false };
  it('is off with the reason when the VM’s clipboard setting is off, and points to Type text…', () => {
    const a = clipboardAvailability({ clipboard: false }, ok);
    expect(a.enabled).toBe(false);
    expect(!a.enabled && a.reason).toMatch(/Settings → Desktop integration.*Type text…/);
  });

  it('waits for the next start when the setting was turned on while the VM ran', () => {
    const a = clipboardAvailability({ clipboard: true }, { ...ok, pending: ['Shared clipboard: off → on'] });
    expect(!a.enabled && a.reason).toMatch(/next start/);
  });

  it('needs a connected, running screen, and says the guest needs spice-vdagent', () => {
    expect(clipboardAvailability({ clipboard: true }, { connected: false, paused: false }).enabled).toBe(false);
    expect(clipboardAvailability({ clipboard: true }, { connected: true, paused: true }).enabled).toBe(false);
    const a = clipboardAvailability({ clipboard: true }, ok);
    expect(a.enabled && a.hint).toMatch(/spice-vdagent/);
  });
});
