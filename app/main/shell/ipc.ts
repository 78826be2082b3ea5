/** The window's IPC handlers, every one behind the sender check (ipc-guard.ts). */
import { dialog, ipcMain, type BrowserWindow, type IpcMainEvent, type IpcMainInvokeEvent } from 'electron';
import type { DriverLink } from '../ipc/driver-link.js';
import { IPC, type CallReply, type StreamRequest } from './channels.js';
import { pipeStream, routeCall } from './driver-bridge.js';
import { guarded, type SenderInfo } from './ipc-guard.js';
import { pickDialogOptions } from './window-policy.js';

export interface IpcOptions {
  window(): BrowserWindow | undefined;
  link: Promise<DriverLink>;
  log(line: string): void;
  /** The page shows this VM now (null: none): the app menu's VM items follow it. */
  onSelection?(vm: string | null): void;
  /** "Start vmdesk at login": read (`enabled` undefined) or set, then read; undefined where not
   * offered. Throws a sentence when it cannot be set. */
  loginItem?(enabled?: boolean): boolean | undefined;
}

/** A VM id is a UUID, or `HOST/UUID` for a libvirt VM: anything longer is not one. */
const MAX_VM_ID = 300;

export function registerIpc(o: IpcOptions): void {
  const describe = (e: IpcMainEvent | IpcMainInvokeEvent): SenderInfo => {
    const win = o.window();
    const frame = e.senderFrame;
    return {
      frameUrl: frame?.url,
      isMainFrame: !!frame && frame.parent === null,
      fromOurWindow: !!win && !win.isDestroyed() && e.sender.id === win.webContents.id,
    };
  };
  const refusing =
    <R>(answer: R) =>
    (_e: unknown, why: string): R => {
      o.log(`refused IPC from ${why}`);
      return answer;
    };
  const refusedCall: CallReply = {
    ok: false,
    error: { code: 'unsupported', message: 'This page may not control vmdesk.' },
  };

  ipcMain.handle(
    IPC.call,
    guarded(
      describe,
      async (_e: IpcMainInvokeEvent, method: unknown, params: unknown) => routeCall(await o.link, method, params),
      refusing(Promise.resolve(refusedCall)),
    ),
  );

  ipcMain.on(
    IPC.stream,
    guarded(
      describe,
      (e: IpcMainEvent, req: unknown) => {
        const port = e.ports[0];
        if (!port) return;
        const r = (typeof req === 'object' && req !== null ? req : {}) as Partial<StreamRequest>;
        void o.link.then(
          (link) => pipeStream(link, { name: r.name, params: r.params }, port, o.log),
          () => port.close(),
        );
      },
      (e: IpcMainEvent, why: string) => {
        refusing(undefined)(e, why);
        for (const p of e.ports) p.close();
      },
    ),
  );

  ipcMain.on(
    IPC.selection,
    guarded(
      describe,
      (_e: IpcMainEvent, vm: unknown) =>
        o.onSelection?.(typeof vm === 'string' && vm.length > 0 && vm.length <= MAX_VM_ID ? vm : null),
      refusing(undefined),
    ),
  );

  ipcMain.handle(
    IPC.loginItem,
    guarded(
      describe,
      (_e: IpcMainInvokeEvent, enabled: unknown): { value: boolean | null } | { error: string } => {
        try {
          const v = o.loginItem?.(typeof enabled === 'boolean' ? enabled : undefined);
          return { value: v ?? null };
        } catch (err) {
          return { error: (err as Error).message };
        }
      },
      refusing({ value: null }),
    ),
  );

  ipcMain.handle(
    IPC.pick,
    guarded(
      describe,
      async (_e: IpcMainInvokeEvent, kind: unknown) => {
        if (kind !== 'iso' && kind !== 'disk') return null;
        const win = o.window();
        const opts = pickDialogOptions(kind);
        const r =
          win && !win.isDestroyed() ? await dialog.showOpenDialog(win, opts) : await dialog.showOpenDialog(opts);
        return r.canceled ? null : (r.filePaths[0] ?? null);
      },
      refusing(Promise.resolve(null)),
    ),
  );
}
