import { describe, expect, it } from 'vitest';
import { VmdeskError } from '../../../main/common/errors.js';
import type { PortForward } from '../../../main/common/vm-types.js';
import {
  EMPTY_FORWARD_FORM,
  forwardTiming,
  listenLabel,
  placeForwardError,
  sshCommand,
  timingText,
  toForwardInput,
  toRemoveInput,
  type ForwardForm,
} from './forward-form.js';

const ssh: PortForward = { proto: 'tcp', hostPort: 2222, guestPort: 22, hostAddr: '127.0.0.1' };
const web: PortForward = { proto: 'tcp', hostPort: 8080, guestPort: 80, hostAddr: '0.0.0.0' };
const form = (f: Partial<ForwardForm>): ForwardForm => ({ ...EMPTY_FORWARD_FORM, ...f });

describe('the add-a-forward form', () => {
  it('starts as SSH on this computer only, with the host port left to the user', () => {
    expect(EMPTY_FORWARD_FORM).toEqual({ proto: 'tcp', hostPort: '', guestPort: '22', listen: 'local' });
  });

  it('makes the vm.addForward input, with the address "Listen on" names', () => {
    expect(toForwardInput(form({ hostPort: ' 2200 ' }), [])).toEqual({
      input: { proto: 'tcp', hostPort: 2200, guestPort: 22, hostAddr: '127.0.0.1' },
    });
    expect(toForwardInput(form({ proto: 'udp', hostPort: '5353', guestPort: '53', listen: 'all' }), [ssh])).toEqual({
      input: { proto: 'udp', hostPort: 5353, guestPort: 53, hostAddr: '0.0.0.0' },
    });
  });

  it('says what to type for a port that is missing, not whole, or out of range', () => {
    expect(toForwardInput(form({ hostPort: '' }), [])).toEqual({
      errors: { hostPort: 'Enter the host port, a number from 1 to 65535.' },
    });
    expect(toForwardInput(form({ hostPort: '22.5', guestPort: '0' }), [])).toEqual({
      errors: {
        hostPort: 'Host port must be a whole number from 1 to 65535, not "22.5".',
        guestPort: 'Guest port must be from 1 to 65535, not 0.',
      },
    });
    expect(toForwardInput(form({ hostPort: '70000' }), [])).toEqual({
      errors: { hostPort: 'Host port must be from 1 to 65535, not 70000.' },
    });
    // What a number input hands over for "1e3" or "-1" is refused too, never read as another port.
    expect(toForwardInput(form({ hostPort: '1e3', guestPort: '-1' }), [])).toMatchObject({
      errors: { hostPort: expect.stringMatching(/whole number/), guestPort: expect.stringMatching(/whole number/) },
    });
  });

  it('refuses a host socket this VM already forwards, naming that forward; 0.0.0.0 covers every address', () => {
    expect(toForwardInput(form({ hostPort: '2222', guestPort: '2022' }), [ssh])).toEqual({
      errors: {
        hostPort:
          'This VM already forwards tcp 127.0.0.1:2222 (to guest port 22). Pick another host port, or remove that forward first.',
      },
    });
    expect(toForwardInput(form({ hostPort: '8080' }), [web])).toEqual({
      errors: {
        hostPort:
          'This VM already forwards tcp 0.0.0.0:8080 (to guest port 80); 0.0.0.0 covers every address. Pick another host port, or remove that forward first.',
      },
    });
    // The same number on the other protocol is another socket.
    expect(toForwardInput(form({ proto: 'udp', hostPort: '2222' }), [ssh])).toHaveProperty('input');
  });

  it('removes a forward by its host socket, filling in the address an older definition left out', () => {
    expect(toRemoveInput('vm1', ssh)).toEqual({ vm: 'vm1', proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 2222 });
    const old = { proto: 'udp', hostPort: 6000, guestPort: 6000 } as PortForward;
    expect(toRemoveInput('vm1', old)).toEqual({ vm: 'vm1', proto: 'udp', hostAddr: '127.0.0.1', hostPort: 6000 });
  });
});

describe("where the driver's refusals show", () => {
  const refused = (message: string, field?: string) =>
    placeForwardError(new VmdeskError('invalid-argument', message, field ? { field } : undefined));

  it('puts a host port taken by another program or VM next to the host port', () => {
    const inUse =
      'Host port tcp 127.0.0.1:2222 is in use by another program. Stop it (see `ss -ltnup | grep :2222`), or give "web" another host port.';
    expect(refused(inUse, 'forward')).toEqual({ hostPort: inUse });
    const other =
      'Host port tcp 127.0.0.1:2222 is already forwarded by the VM "x" (0.0.0.0 covers every address). Pick another host port.';
    expect(refused(other, 'forward')).toEqual({ hostPort: other });
    const twice =
      'The forwards tcp 0.0.0.0:80 and tcp 127.0.0.1:80 want the same host port (0.0.0.0 covers every address). Give each its own host port.';
    expect(refused(twice, 'forward')).toEqual({ hostPort: twice });
  });

  it('puts an address that is not this computer’s at "Listen on", and the contract’s checks at their input', () => {
    const addr = 'Host address 10.9.9.9 of the forward tcp 10.9.9.9:2222 is not an address of this computer. Use …';
    expect(refused(addr, 'forward')).toEqual({ listen: addr });
    expect(refused('A port must be at most 65535.', 'forward.guestPort')).toEqual({
      guestPort: 'A port must be at most 65535.',
    });
    expect(refused('A port must be at least 1.', 'forward.hostPort')).toEqual({
      hostPort: 'A port must be at least 1.',
    });
  });

  it('keeps the rest at the form: the forward limit, a VM without network, a lost connection', () => {
    expect(refused('A VM can have at most 64 port forwards.', 'forward')).toEqual({
      form: 'A VM can have at most 64 port forwards.',
    });
    expect(
      placeForwardError(new VmdeskError('invalid-state', '"x" has no network, so nothing can be forwarded to it.')),
    ).toEqual({
      form: '"x" has no network, so nothing can be forwarded to it.',
    });
    expect(placeForwardError(new Error('The connection to vmdesk was lost.'))).toEqual({
      form: 'The connection to vmdesk was lost.',
    });
  });
});

describe('a forward as the card shows it', () => {
  it('offers ssh -p PORT localhost only for tcp to guest port 22', () => {
    expect(sshCommand(ssh)).toBe('ssh -p 2222 localhost');
    expect(sshCommand({ ...ssh, hostAddr: '0.0.0.0', hostPort: 2200 })).toBe('ssh -p 2200 localhost');
    // A forward on one address of this computer is reached there, not at localhost.
    expect(sshCommand({ ...ssh, hostAddr: '192.168.1.20' })).toBe('ssh -p 2222 192.168.1.20');
    expect(sshCommand(web)).toBeUndefined();
    expect(sshCommand({ ...ssh, proto: 'udp' })).toBeUndefined();
  });

  it('names where it listens', () => {
    expect(listenLabel('127.0.0.1')).toBe('this computer only');
    expect(listenLabel(undefined)).toBe('this computer only');
    expect(listenLabel('0.0.0.0')).toBe('every network');
    expect(listenLabel('192.168.1.20')).toBe('address 192.168.1.20');
  });

  it('says it listens now while QEMU runs, and from the next start otherwise', () => {
    expect(forwardTiming('running')).toBe('now');
    expect(forwardTiming('paused')).toBe('now');
    expect(forwardTiming('starting')).toBe('when-running');
    for (const s of ['stopped', 'crashed', 'stopping', 'broken'] as const) expect(forwardTiming(s)).toBe('next-start');
    expect(timingText('now', 2)).toBe('Listening now. Added and removed forwards apply at once.');
    expect(timingText('next-start', 2)).toBe('The VM is not running: these listen from its next start.');
    expect(timingText('next-start', 0)).toBe('The VM is not running: a forward you add listens from its next start.');
  });
});
