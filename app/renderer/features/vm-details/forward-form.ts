/**
 * The Port forwards card's logic: the add form's input for vm.addForward, where a refusal shows,
 * the ssh command a forward offers, and whether a change listens now or at the next start.
 */
import type { CallParams } from '../../../main/common/contract.js';
import { VmdeskError } from '../../../main/common/errors.js';
import { forwardLabel, forwardsOverlap } from '../../../main/common/forwards.js';
import type { PortForward, VmState } from '../../../main/common/vm-types.js';

// The driver's own rules for naming and comparing host sockets (common/forwards.ts).
export { forwardLabel, forwardsOverlap };

export type ForwardInput = CallParams<'vm.addForward'>['forward'];
export type ForwardProto = ForwardInput['proto'];
export type RemoveForwardInput = CallParams<'vm.removeForward'>;
/** "This computer only" (127.0.0.1) or "every network" (0.0.0.0). */
export type ListenOn = 'local' | 'all';
export type ForwardFieldId = 'proto' | 'hostPort' | 'guestPort' | 'listen';

/** What the inputs hold: ports as typed, so "22 " or a half-typed number is judged on submit. */
export interface ForwardForm {
  proto: ForwardProto;
  hostPort: string;
  guestPort: string;
  listen: ListenOn;
}

/** `form`: a refusal that belongs to no one input (the forward limit, a VM without network). */
export type ForwardErrors = Partial<Record<ForwardFieldId | 'form', string>>;

/** SSH is what most people forward first: the guest port starts at 22, the host port is theirs to pick. */
export const EMPTY_FORWARD_FORM: ForwardForm = { proto: 'tcp', hostPort: '', guestPort: '22', listen: 'local' };

export const LISTEN_ADDR: Record<ListenOn, string> = { local: '127.0.0.1', all: '0.0.0.0' };

/** The address a stored forward listens on (older definitions may lack it: the driver's default). */
export function hostAddrOf(f: { hostAddr?: string }): string {
  return f.hostAddr ?? '127.0.0.1';
}

/** "this computer only", "every network", or the address itself for any other one. */
export function listenLabel(hostAddr: string | undefined): string {
  const addr = hostAddr ?? '127.0.0.1';
  if (addr === '127.0.0.1') return 'this computer only';
  if (addr === '0.0.0.0') return 'every network';
  return `address ${addr}`;
}

/** A port as typed: a whole number 1–65535, or a sentence saying what to type. */
function portProblem(text: string, what: 'Host port' | 'Guest port'): { port: number } | { error: string } {
  const t = text.trim();
  if (t === '') return { error: `Enter the ${what.toLowerCase()}, a number from 1 to 65535.` };
  if (!/^\d+$/.test(t)) return { error: `${what} must be a whole number from 1 to 65535, not "${t}".` };
  const port = Number(t);
  if (port < 1 || port > 65535) return { error: `${what} must be from 1 to 65535, not ${t}.` };
  return { port };
}

/**
 * Input for vm.addForward, or the errors that can be told without asking the driver: ports that
 * are not ports, and a host socket this VM already forwards (the driver refuses it too; here it is
 * said before the click leaves the window). Other VMs' ports and other programs are the driver's.
 */
export function toForwardInput(
  form: ForwardForm,
  existing: readonly PortForward[],
): { input: ForwardInput } | { errors: ForwardErrors } {
  const errors: ForwardErrors = {};
  const host = portProblem(form.hostPort, 'Host port');
  const guest = portProblem(form.guestPort, 'Guest port');
  if ('error' in host) errors.hostPort = host.error;
  if ('error' in guest) errors.guestPort = guest.error;
  if ('error' in host || 'error' in guest) return { errors };
  const input: ForwardInput = {
    proto: form.proto,
    hostPort: host.port,
    guestPort: guest.port,
    hostAddr: LISTEN_ADDR[form.listen],
  };
  const same = existing.find((f) => forwardsOverlap(f, input));
  if (same)
    return {
      errors: {
        hostPort: `This VM already forwards ${forwardLabel(same)} (to guest port ${same.guestPort})${
          hostAddrOf(same) !== input.hostAddr ? '; 0.0.0.0 covers every address' : ''
        }. Pick another host port, or remove that forward first.`,
      },
    };
  return { input };
}

/** The vm.removeForward input for a stored forward: its host socket. */
export function toRemoveInput(vmId: string, f: PortForward): RemoveForwardInput {
  return { vm: vmId, proto: f.proto, hostAddr: hostAddrOf(f), hostPort: f.hostPort };
}

/**
 * Where a refused vm.addForward shows. The driver names `forward` for every host-socket refusal
 * (in use by another program, forwarded by another VM, the same port twice, below 1024, not an
 * address of this computer); its sentence says which, so the one about the address goes to
 * "Listen on" and the others to the host port. The contract's own checks name the exact input
 * (`forward.guestPort`). The forward limit and anything else stay at the form.
 */
export function placeForwardError(err: unknown): ForwardErrors {
  const message = err instanceof Error ? err.message : String(err);
  if (!(err instanceof VmdeskError)) return { form: message };
  const field = typeof err.details?.field === 'string' ? err.details.field : '';
  if (field === 'forward.hostPort') return { hostPort: message };
  if (field === 'forward.guestPort') return { guestPort: message };
  if (field === 'forward.hostAddr') return { listen: message };
  if (field === 'forward.proto') return { proto: message };
  if (field === 'forward') {
    if (/^Host address /.test(message)) return { listen: message };
    if (/host port/i.test(message)) return { hostPort: message };
  }
  return { form: message };
}

/**
 * The command that reaches the guest's SSH server through a forward: only for tcp to guest
 * port 22. A forward on 127.0.0.1 or 0.0.0.0 is reached as localhost (as the issue asks: it
 * reads as "this computer"); one on another address is reached there.
 */
export function sshCommand(f: PortForward): string | undefined {
  if (f.proto !== 'tcp' || f.guestPort !== 22) return undefined;
  const addr = hostAddrOf(f);
  const host = addr === '127.0.0.1' || addr === '0.0.0.0' ? 'localhost' : addr;
  return `ssh -p ${f.hostPort} ${host}`;
}

/** When forwards take effect, by the VM's state: `now` while QEMU runs with its network. */
export type ForwardTiming = 'now' | 'when-running' | 'next-start';

export function forwardTiming(state: VmState): ForwardTiming {
  if (state === 'running' || state === 'paused') return 'now';
  // A change waits for the start (one job at a time), then QEMU listens on it at once.
  if (state === 'starting') return 'when-running';
  return 'next-start';
}

/** The card's line about when forwards apply; `count` is how many the VM has. */
export function timingText(timing: ForwardTiming, count: number): string {
  if (timing === 'now')
    return count > 0
      ? 'Listening now. Added and removed forwards apply at once.'
      : 'The VM is running: a forward you add listens at once.';
  if (timing === 'when-running') return 'The VM is starting: a forward you add listens as soon as it runs.';
  return count > 0
    ? 'The VM is not running: these listen from its next start.'
    : 'The VM is not running: a forward you add listens from its next start.';
}
