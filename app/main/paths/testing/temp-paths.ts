/** Every vmdesk directory of a test under one temporary root, for Linux (XDG dirs set). */
import { resolveAppPaths, type AppPaths } from '../app-paths.js';

export function tempAppPaths(root: string): AppPaths {
  const env = {
    XDG_CONFIG_HOME: `${root}/c`,
    XDG_DATA_HOME: `${root}/d`,
    XDG_STATE_HOME: `${root}/s`,
    XDG_CACHE_HOME: `${root}/k`,
    XDG_RUNTIME_DIR: `${root}/r`,
  };
  return resolveAppPaths({ env, platform: 'linux', home: root, uid: process.getuid!(), tmpdir: root });
}
