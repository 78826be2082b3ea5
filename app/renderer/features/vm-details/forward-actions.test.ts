/**
 * The Port forwards card's calls through the store, on the demo fake (app/renderer/dev/fake-api.ts,
 * which answers with the driver's refusals). The real driver's side is tested in app/main/vm and
 * e2e/web-forwards.int.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../../../main/common/vm-types.js';
import { createFakeApi, type FakeApi } from '../../dev/fake-api.js';
import { connectStore, resetStore } from '../../store/actions.js';
import { store } from '../../store/store.js';
import { addForward, removeForward } from './forward-actions.js';
import { EMPTY_FORWARD_FORM, placeForwardError, toForwardInput, toRemoveInput } from './forward-form.js';

const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

const byName = (name: string): VmSummary => {
  const vm = Object.values(store.getState().vms).find((v) => v.name === name);
  if (!vm) throw new Error(`no ${name}`);
  return vm;
};

/** Adds what the form holds with `hostPort`/`guestPort` typed, as the Add button does. */
async function add(vm: VmSummary, hostPort: string, guestPort = '22') {
  const r = toForwardInput({ ...EMPTY_FORWARD_FORM, hostPort, guestPort }, vm.definition!.network.forwards);
  if (!('input' in r)) throw new Error(`not sent: ${JSON.stringify(r)}`);
  return addForward(vm.id, r.input);
}

describe('port forwards from the card', () => {
  let fake: FakeApi;
  let disconnect: () => void;

  beforeEach(async () => {
    resetStore();
    fake = createFakeApi({ latencyMs: 0 });
    disconnect = connectStore(fake);
    await until(() => store.getState().listLoaded);
  });
  afterEach(() => disconnect());

  it('adds a forward and removes it; the store shows each new summary at once', async () => {
    const vm = byName('fedora-41-workstation');
    const added = await add(vm, '2200');
    expect(added.definition!.network.forwards).toEqual([
      { proto: 'tcp', hostPort: 2200, guestPort: 22, hostAddr: '127.0.0.1' },
    ]);
    expect(store.getState().vms[vm.id]!.definition!.network.forwards).toHaveLength(1);
    const removed = await removeForward(toRemoveInput(vm.id, added.definition!.network.forwards[0]!));
    expect(removed.definition!.network.forwards).toEqual([]);
    expect(store.getState().vms[vm.id]!.definition!.network.forwards).toEqual([]);
  });

  it("puts another VM's port and a port in use by another program next to the host port", async () => {
    const fedora = byName('fedora-41-workstation');
    const taken = await add(fedora, '2222').catch((e: unknown) => e);
    expect(placeForwardError(taken)).toEqual({
      hostPort:
        'Host port tcp 127.0.0.1:2222 is already forwarded by the VM "debian-web" (0.0.0.0 covers every address). Pick another host port.',
    });
    const web = byName('debian-web');
    expect(web.state).toBe('running');
    const busy = await add(web, '8000').catch((e: unknown) => e);
    expect(placeForwardError(busy).hostPort).toMatch(/^Host port tcp 127.0.0.1:8000 is in use by another program\./);
    expect((await fake.call('vm.get', { vm: web.id })).definition!.network.forwards).toHaveLength(2);
  });

  it('says a forward that is gone meanwhile is not there', async () => {
    const web = byName('debian-web');
    const f = web.definition!.network.forwards[0]!;
    await fake.call('vm.removeForward', toRemoveInput(web.id, f));
    const err = await removeForward(toRemoveInput(web.id, f)).catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      '"debian-web" forwards nothing on tcp 127.0.0.1:2222. `vmdesk forward list debian-web` shows its forwards.',
    );
  });
});
