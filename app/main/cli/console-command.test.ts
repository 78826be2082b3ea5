import { PassThrough } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import type { CallName, CallResults } from '../common/contract.js';
import type { VmSummary } from '../common/vm-types.js';
import type { DriverLink } from '../ipc/driver-link.js';
import { FakeStream } from '../consoles/testing/fake-stream.js';
import { attachConsole, DETACH_BYTE } from './console-command.js';

const vm: VmSummary = { id: '11111111-2222-4333-8444-555555555555', name: 'web', state: 'running', file: '/x.json' };

function link(stream: FakeStream): Pick<DriverLink, 'call' | 'openStream'> {
  return {
    // The console asks for the VM (vm.get) and nothing else.
    call: async <C extends CallName>(method: C): Promise<CallResults[C]> => {
      expect(method).toBe('vm.get');
      return vm as CallResults[C];
    },
    openStream: async () => stream,
  };
}

describe('attachConsole', () => {
  it('stops reading the terminal while the guest takes no more input, and goes on when it drains', async () => {
    const stream = new FakeStream('console.serial', {});
    const input = new PassThrough();
    const err = new PassThrough();
    const done = attachConsole(link(stream), 'web', { out: new PassThrough(), err }, input);
    await vi.waitFor(() => expect(input.isPaused()).toBe(false));
    stream.inputFull = true;
    input.write('a pasted line\n');
    await vi.waitFor(() => expect(stream.writtenBytes).toBe(14));
    expect(input.isPaused()).toBe(true); // the rest of the paste waits in the terminal's pipe
    input.write('more\n');
    await new Promise((r) => setImmediate(r));
    expect(stream.writtenBytes).toBe(14);
    stream.drainInput();
    await vi.waitFor(() => expect(stream.writtenBytes).toBe(19));
    input.write(Buffer.from([DETACH_BYTE]));
    expect(await done).toBe(0);
    expect(stream.closed).toBe(1);
  });
});
