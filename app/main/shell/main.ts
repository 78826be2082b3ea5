/** The Electron main entry (bundled to dist/shell/main.cjs; package.json `main`). */
// First, before any module uses libuv's thread pool: room for libvirt's event loop and calls
// beside file work (see bin/vmdesk.cjs).
import './threadpool.js';
import { appPathsFromProcess } from '../paths/app-paths.js';
import { getNative } from '../../native/index.js';
import { openDriver } from '../ipc/driver-link.js';
import { createHostServices } from '../vm/host-adapter.js';
import { managerOptionsFromEnv } from '../vm/vm-manager.js';
import { shellLayout } from './layout.js';
import { runShell } from './shell-app.js';

const paths = appPathsFromProcess();
const layout = shellLayout(__dirname);
runShell(layout, {
  paths,
  openLink: () =>
    openDriver({
      paths,
      kind: 'app',
      host: createHostServices(paths),
      native: getNative(),
      // The log cap: the settings file, VMDESK_LOG_CAP_BYTES first (as the CLI and vmdesk web).
      managerOptions: managerOptionsFromEnv(process.env),
      programDir: layout.programDir,
    }),
  argv: process.argv,
  cwd: process.cwd(),
  platform: process.platform,
  log: (line) => console.error(`vmdesk: ${line}`),
});
