/**
 * Where a VM's sound goes: the host's sound server when one is reachable for this user
 * (PulseAudio, or PipeWire's Pulse service, which is what desktops run today; QEMU 7.2 has no
 * native PipeWire backend), CoreAudio on macOS, else nowhere (the guest still has its card).
 */
import fs from 'node:fs';
import path from 'node:path';

export interface HostAudio {
  driver: 'pa' | 'coreaudio' | 'none';
  server?: string;
  /** For the driver log and the UI: where sound goes, or why nowhere. */
  reason: string;
}

export function hostAudio(
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform,
  exists: (p: string) => boolean = fs.existsSync,
): HostAudio {
  if (platform === 'darwin') return { driver: 'coreaudio', reason: 'plays through CoreAudio' };
  if (env.PULSE_SERVER)
    return { driver: 'pa', server: env.PULSE_SERVER, reason: `plays through the sound server ${env.PULSE_SERVER}` };
  const runtime = env.XDG_RUNTIME_DIR;
  const native = runtime ? path.join(runtime, 'pulse', 'native') : undefined;
  if (native && exists(native))
    return { driver: 'pa', reason: `plays through the sound server at ${native} (PulseAudio or PipeWire)` };
  return {
    driver: 'none',
    reason: runtime
      ? `plays nowhere: there is no sound server for this user (${native} does not exist)`
      : 'plays nowhere: there is no sound server (XDG_RUNTIME_DIR is unset)',
  };
}
