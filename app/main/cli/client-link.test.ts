/**
 * The CLI's short way to a running driver (client-link.ts) against the real control-socket
 * server in temporary XDG dirs. The dispatcher behind the socket is a typed stand-in answering
 * vm.list: what is under test is finding the owner and talking to it, not the driver (the e2e
 * CLI tests run every command against real drivers through this same path).
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { VmSummary } from '../common/vm-types.js';
import type { ContractEvents, EventName } from '../common/contract.js';
import { listenControlSocket, type ControlServer, type EventSource } from '../ipc/control-socket.js';
import type { DispatchResult, Dispatcher } from '../ipc/dispatcher.js';
import type { DriverLink } from '../ipc/driver-link.js';
import { resolveAppPaths, type AppPaths } from '../paths/app-paths.js';
import { driverFiles } from '../paths/vm-files.js';
import { ByteChannel, type ByteStream } from '../consoles/byte-channel.js';
import { connectRunningDriver } from './client-link.js';

const VM: VmSummary = {
  id: '11111111-2222-4333-8444-555555555555',
  name: 'one',
  state: 'stopped',
  file: '/c/one.json',
};

class ListDispatcher implements Dispatcher {
  readonly methods: unknown[] = [];
  async dispatch(method: unknown): Promise<DispatchResult> {
    this.methods.push(method);
    return method === 'vm.list'
      ? { ok: true, result: [VM] }
      : { ok: false, error: { code: 'internal', message: 'no' } };
  }
}

const noEvents: EventSource = {
  on<E extends EventName>(_event: E, _listener: (data: ContractEvents[E]) => void) {
    return () => undefined;
  },
};

/** The long way, recorded: what openDriver would hand back when a stream is asked for. */
class LongWay {
  opened = 0;
  closed = 0;
  readonly stream: ByteStream = {
    output: new ByteChannel({ budgetBytes: 1024, overflow: { kind: 'drop' } }),
    input: () => true,
    onInputDrain: () => undefined,
    close: () => undefined,
  };
  open = async (): Promise<DriverLink> => {
    this.opened++;
    return {
      mode: 'client',
      owner: { pid: 1, kind: 'driver', controlSocket: '/none', startedAt: '' },
      call: () => Promise.reject(new Error('not used')),
      subscribe: () => Promise.reject(new Error('not used')),
      openStream: async () => this.stream,
      close: async () => {
        this.closed++;
      },
    };
  };
}

let root: string;
let paths: AppPaths;
let server: ControlServer | undefined;
let link: DriverLink | undefined;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'vmd-cl-'));
  paths = resolveAppPaths({
    env: { XDG_CONFIG_HOME: path.join(root, 'c'), XDG_RUNTIME_DIR: path.join(root, 'r') },
    platform: 'linux',
    home: root,
    uid: process.getuid?.() ?? 0,
    tmpdir: root,
  });
  fs.mkdirSync(paths.config, { recursive: true, mode: 0o700 });
  fs.mkdirSync(paths.runtime, { recursive: true, mode: 0o700 });
});

afterEach(async () => {
  await link?.close();
  link = undefined;
  await server?.close();
  server = undefined;
  fs.rmSync(root, { recursive: true, force: true });
});

/** What a driver leaves in the lock file once it owns the VMs (vm/owner-lock.ts). */
function writeOwner(controlSocket: string): void {
  const info = { pid: 4242, kind: 'driver', controlSocket, startedAt: new Date(0).toISOString() };
  fs.writeFileSync(driverFiles(paths).lock, JSON.stringify(info) + '\n');
}

async function serve(dispatcher: Dispatcher): Promise<string> {
  const socket = driverFiles(paths).controlSocket;
  server = await listenControlSocket(socket, dispatcher, noEvents, () => {
    throw new Error('no streams here');
  });
  return socket;
}

describe('connectRunningDriver', () => {
  it('talks to the owner the lock file names, over its control socket', async () => {
    const dispatcher = new ListDispatcher();
    writeOwner(await serve(dispatcher));
    const longWay = new LongWay();
    link = await connectRunningDriver(paths, longWay.open);
    expect(link?.mode).toBe('client');
    expect(link?.owner.pid).toBe(4242);
    expect(await link!.call('vm.list', {})).toEqual([VM]);
    expect(dispatcher.methods).toEqual(['vm.list']);
    expect(longWay.opened).toBe(0);
  });

  it('sends the first call along with the hello when it changes nothing, and asks for it once', async () => {
    const dispatcher = new ListDispatcher();
    writeOwner(await serve(dispatcher));
    link = await connectRunningDriver(paths, new LongWay().open, { first: { method: 'vm.list', params: {} } });
    expect(await link!.call('vm.list', {})).toEqual([VM]);
    expect(dispatcher.methods).toEqual(['vm.list']);
  });

  it('leaves it to openDriver when the named owner accepts but never answers (hung), first call or not', async () => {
    // A socket that takes connections and reads nothing: what a SIGSTOPped driver looks like.
    const socket = driverFiles(paths).controlSocket;
    const accepted: net.Socket[] = [];
    const hung = net.createServer((c) => accepted.push(c));
    await new Promise<void>((resolve) => hung.listen(socket, resolve));
    try {
      writeOwner(socket);
      const first = { method: 'vm.list', params: {} } as const;
      expect(await connectRunningDriver(paths, new LongWay().open, { first })).toBeUndefined();
    } finally {
      for (const c of accepted) c.destroy();
      await new Promise((resolve) => hung.close(resolve));
    }
  });

  it('leaves it to openDriver when no owner is named: no lock file, an emptied one, half a line', async () => {
    const longWay = new LongWay();
    expect(await connectRunningDriver(paths, longWay.open)).toBeUndefined();
    fs.writeFileSync(driverFiles(paths).lock, '');
    expect(await connectRunningDriver(paths, longWay.open)).toBeUndefined();
    fs.writeFileSync(driverFiles(paths).lock, '{"pid":42,"kind":"dri');
    expect(await connectRunningDriver(paths, longWay.open)).toBeUndefined();
    expect(longWay.opened).toBe(0);
  });

  it('leaves it to openDriver when the named socket is gone (an owner killed without warning)', async () => {
    writeOwner(driverFiles(paths).controlSocket);
    expect(await connectRunningDriver(paths, new LongWay().open)).toBeUndefined();
  });

  it('does not connect to a socket in a directory other users can enter, nor in one owned by another user', async () => {
    const dispatcher = new ListDispatcher();
    writeOwner(await serve(dispatcher));
    fs.chmodSync(paths.runtime, 0o755);
    expect(await connectRunningDriver(paths, new LongWay().open)).toBeUndefined();
    fs.chmodSync(paths.runtime, 0o700);
    const uid = process.getuid?.() ?? 0;
    expect(await connectRunningDriver(paths, new LongWay().open, { uid: uid + 1 })).toBeUndefined();
    expect(dispatcher.methods).toEqual([]);
  });

  it('opens byte streams through the long way, once, and closes it with the link', async () => {
    writeOwner(await serve(new ListDispatcher()));
    const longWay = new LongWay();
    link = await connectRunningDriver(paths, longWay.open);
    expect(await link!.openStream('console.serial', { vm: 'one' })).toBe(longWay.stream);
    expect(await link!.openStream('console.serial', { vm: 'one' })).toBe(longWay.stream);
    expect(longWay.opened).toBe(1);
    await link!.close();
    link = undefined;
    expect(longWay.closed).toBe(1);
  });
});
