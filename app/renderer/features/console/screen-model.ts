/**
 * What the Screen tab's toolbar offers for a VM: whether the guest can follow the window's size,
 * and whether the shared clipboard can be used now (and if not, why, in words a person can act on).
 */
import type { VmDefinition } from '../../../main/common/vm-types.js';

/**
 * Whether the guest's screen can take the window's size. QEMU passes a VNC client's desktop-size
 * request on to virtio-vga (a guest with a DRM driver, virtio_gpu, changes its mode); standard VGA
 * has no way to be told, so its picture is scaled instead.
 */
export function guestFollowsWindow(display: VmDefinition['display'] | undefined): boolean {
  return display === 'virtio';
}

export type ScreenSizing = 'fit' | 'resize';

/** The toolbar's words for the sizing toggle: its title (tooltip) for each display. */
export function sizingTitle(display: VmDefinition['display'] | undefined, sizing: ScreenSizing): string {
  if (!guestFollowsWindow(display))
    return 'This VM has standard VGA, which cannot be told the window’s size: the picture is scaled to fit. Choose Virtio GPU as its display in Settings for a screen that follows the window.';
  return sizing === 'resize'
    ? 'The guest is asked to take the window’s size (virtio GPU; a guest with the virtio_gpu driver follows). Click to keep its size and scale the picture instead.'
    : 'The picture is scaled to fit the window. Click to ask the guest to take the window’s size instead.';
}

export type ClipboardAvailability = { enabled: true; hint: string } | { enabled: false; reason: string };

const AGENT =
  'The guest needs spice-vdagent (Linux: the spice-vdagent package; Windows: the SPICE guest tools) for this; without it, use Type text… to send the text as key presses.';

/** Whether "Paste to guest" can be used now: the VM's clipboard setting, its state, the screen. */
export function clipboardAvailability(
  d: Pick<VmDefinition, 'clipboard'> | undefined,
  s: { connected: boolean; paused: boolean; pending?: readonly string[] | undefined },
): ClipboardAvailability {
  if (!d?.clipboard)
    return {
      enabled: false,
      reason:
        'The shared clipboard is off for this VM: turn it on under Settings → Desktop integration (from the next start). Type text… sends text as key presses meanwhile.',
    };
  // The driver's pending line (app/main/vm/settings.ts settingsDiff): on now, off in the running QEMU.
  if (s.pending?.some((p) => p.startsWith('Shared clipboard: off')))
    return {
      enabled: false,
      reason: 'The shared clipboard was turned on after this VM started: it works from its next start.',
    };
  if (!s.connected) return { enabled: false, reason: 'The screen is not connected.' };
  if (s.paused) return { enabled: false, reason: 'Resume the VM first: a paused guest takes no clipboard.' };
  return {
    enabled: true,
    hint: `Offers the host’s clipboard to the guest, to paste there with its own Paste. ${AGENT}`,
  };
}
