/** A DriverLink for the shell's tests: records calls, answers from a table, emits events on demand. */
import type {
  CallName,
  CallParams,
  CallResults,
  ContractEvents,
  EventName,
  StreamName,
  StreamParams,
} from '../../common/contract.js';
import type { VmState, VmSummary } from '../../common/vm-types.js';
import type { ByteStream } from '../../consoles/byte-channel.js';
import { FakeStream } from '../../consoles/testing/fake-stream.js';
import type { DriverLink } from '../../ipc/driver-link.js';
import type { OwnerInfo } from '../../vm/owner-lock.js';

export function vm(name: string, state: VmState, n = 1): VmSummary {
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    name,
    state,
    file: `/cfg/vmdesk/vms/${name}.json`,
  };
}

type Listener = <E extends EventName>(name: E, data: ContractEvents[E]) => void;
type Answer = (params: unknown) => unknown;

export class FakeLink implements DriverLink {
  readonly mode = 'owner' as const;
  readonly owner: OwnerInfo = {
    pid: 4242,
    kind: 'app',
    controlSocket: '/run/vmdesk/control.sock',
    startedAt: '2025-01-01T00:00:00.000Z',
  };
  readonly calls: { method: CallName; params: unknown }[] = [];
  readonly listeners = new Set<Listener>();
  /** Every stream opened, newest last: the test pushes output and ends them. */
  readonly channels: FakeStream[] = [];
  closed = 0;
  /** Per-method answers; a method without one answers `vms` for vm.list and the VM named in params otherwise. */
  readonly answers = new Map<CallName, Answer>();
  /** Thrown by openStream when set. */
  refuseStreams: Error | undefined;

  constructor(public vms: VmSummary[] = []) {}

  async call<C extends CallName>(method: C, params: CallParams<C>): Promise<CallResults[C]> {
    this.calls.push({ method, params });
    const answer = this.answers.get(method);
    if (answer) return answer(params) as CallResults[C];
    if (method === 'vm.list') return this.vms as CallResults[C];
    const ref = (params as { vm?: string }).vm;
    return (this.vms.find((v) => v.id === ref || v.name === ref) ?? vm(String(ref), 'stopped')) as CallResults[C];
  }

  async subscribe(listener: Listener): Promise<() => void> {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  emit<E extends EventName>(name: E, data: ContractEvents[E]): void {
    for (const l of this.listeners) l(name, data);
  }

  async openStream<S extends StreamName>(name: S, params: StreamParams<S>): Promise<ByteStream> {
    if (this.refuseStreams) throw this.refuseStreams;
    const ch = new FakeStream(name, params);
    this.channels.push(ch);
    return ch;
  }

  async close(): Promise<void> {
    this.closed++;
  }

  /** The calls other than vm.list (what the shell did to VMs). */
  actions(): { method: CallName; params: unknown }[] {
    return this.calls.filter((c) => c.method !== 'vm.list');
  }
}
