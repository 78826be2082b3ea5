/** Which accelerator a VM starts with. Pure: the statuses come from the host probe. */
import type { Accel, AccelChoice, AccelStatus } from '../common/host-types.js';

/** Preference of `auto`: hardware first. kvm and hvf never both apply to one host. */
const AUTO_ORDER: readonly Accel[] = ['kvm', 'hvf', 'tcg'];
const ACCELS: readonly string[] = AUTO_ORDER;
const TCG_SHORT = 'which is slow (software emulation)';

/** The env variable that forces one accelerator for every VM (e.g. `VMDESK_ACCEL=tcg` on a
 * machine whose KVM is flaky, or in CI). */
export const ACCEL_ENV = 'VMDESK_ACCEL';

export interface AccelDecision {
  accel: Accel;
  /** Why this one: shown in the VM's log and details panel. */
  reason: string;
}

/** The requested accelerator cannot be used; message = reason + fix, ready for the user. */
export class AccelUnavailableError extends Error {
  override readonly name = 'AccelUnavailableError';
  constructor(
    readonly accel: Accel | 'auto',
    readonly reason: string,
    readonly fix?: string,
  ) {
    const what = accel === 'auto' ? 'No accelerator can run this guest' : `${accel.toUpperCase()} is not available`;
    super(fix ? `${what}: ${reason}. Fix: ${fix}` : `${what}: ${reason}`);
  }
}

/** VMDESK_ACCEL is neither empty, auto, kvm, hvf nor tcg. */
export class AccelOverrideError extends Error {
  override readonly name = 'AccelOverrideError';
  constructor(readonly value: string) {
    super(`${ACCEL_ENV}=${value} is not understood: use kvm, hvf, tcg or auto (or unset it)`);
  }
}

function fixable(statuses: readonly AccelStatus[]): string {
  // Only accelerators the user could enable are worth a sentence (those with a fix); "HVF exists
  // only on macOS" on a Linux box is noise.
  const missed = statuses.filter((s) => !s.available && s.accel !== 'tcg' && s.fix);
  return missed.map((s) => ` ${s.accel.toUpperCase()} is unavailable: ${s.reason} (fix: ${s.fix}).`).join('');
}

/**
 * Picks the accelerator for a VM.
 * - `envOverride` (the value of VMDESK_ACCEL) set to kvm/hvf/tcg wins over `requested`;
 *   empty/undefined/'auto' means no override.
 * - An explicit accelerator MUST be available, else AccelUnavailableError with its reason and fix.
 * - `auto` picks kvm, then hvf, then tcg; falling back to tcg says what would make it faster.
 * Throws AccelOverrideError for an unknown override value.
 */
export function chooseAccel(
  requested: AccelChoice,
  statuses: readonly AccelStatus[],
  envOverride?: string,
): AccelDecision {
  const override = envOverride?.trim().toLowerCase() ?? '';
  if (override !== '' && override !== 'auto' && !ACCELS.includes(override))
    throw new AccelOverrideError(envOverride ?? '');
  const forced = override !== '' && override !== 'auto' ? (override as Accel) : undefined;
  const wanted: AccelChoice = forced ?? requested;
  const byAccel = new Map(statuses.map((s) => [s.accel, s]));

  if (wanted !== 'auto') {
    const status = byAccel.get(wanted);
    const via = forced
      ? `${ACCEL_ENV}=${forced}${requested !== forced ? ` overrides the VM's choice (${requested})` : ''}`
      : 'the VM asks for it';
    if (!status) throw new AccelUnavailableError(wanted, `the host probe has no status for ${wanted} (${via})`);
    if (!status.available)
      throw new AccelUnavailableError(wanted, forced ? `${status.reason} (${via})` : status.reason, status.fix);
    return { accel: wanted, reason: `${via}: ${status.reason}` };
  }

  for (const accel of AUTO_ORDER) {
    const status = byAccel.get(accel);
    if (!status?.available) continue;
    if (accel !== 'tcg') return { accel, reason: `auto picked ${accel.toUpperCase()}: ${status.reason}` };
    return { accel, reason: `auto fell back to TCG, ${TCG_SHORT}.${fixable(statuses)}` };
  }
  const reasons = statuses.map((s) => `${s.accel.toUpperCase()}: ${s.reason}`).join('; ');
  const fix = statuses.find((s) => s.accel === 'tcg')?.fix ?? statuses.find((s) => s.fix)?.fix;
  throw new AccelUnavailableError('auto', reasons || 'the host probe returned no accelerators', fix);
}
