/**
 * The window's preload (sandboxed: it may require only 'electron'; build-shell.mjs bundles the
 * rest into dist/shell/preload.cjs). It installs `window.vmdesk` in the page's own world (see
 * main-world.ts for why not exposeInMainWorld) and exposes `window.vmdeskShell`.
 */
import { contextBridge, ipcRenderer, webUtils } from 'electron';
import { installVmdeskApi } from './main-world.js';
import { createMainWorldBridge, createShellApi } from './preload-bridge.js';

contextBridge.executeInMainWorld({
  func: installVmdeskApi,
  args: [createMainWorldBridge(ipcRenderer, () => new MessageChannel())],
});
contextBridge.exposeInMainWorld(
  'vmdeskShell',
  createShellApi(ipcRenderer, (file) => webUtils.getPathForFile(file as File)),
);
