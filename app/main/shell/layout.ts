/** Where the shell finds its files, relative to the directory of the built main.cjs (dist/shell/). */
import path from 'node:path';

export interface ShellLayout {
  /** The built renderer (index.html, app.js...), served on app://. */
  rendererDir: string;
  /** The bundled preload. */
  preload: string;
  /** Icons (packaged next to dist/ as resources/). */
  resourcesDir: string;
  /**
   * dist/shell as the file system has it: outside app.asar (app.asar.unpacked), where the files
   * the app runs as programs (the mdev helper, asarUnpack in electron-builder.config.cjs) are.
   */
  programDir: string;
}

export function shellLayout(shellDir: string): ShellLayout {
  return {
    rendererDir: path.join(shellDir, '..', 'renderer'),
    preload: path.join(shellDir, 'preload.cjs'),
    resourcesDir: path.join(shellDir, '..', '..', 'resources'),
    programDir: unpackedPath(shellDir),
  };
}

/** A path inside an app.asar archive, as its unpacked twin (electron-builder's asarUnpack). */
export function unpackedPath(p: string): string {
  return p.replace(/([\\/])app\.asar(?=[\\/]|$)/, '$1app.asar.unpacked');
}

/** The tray icon for this platform: a template image on macOS, a coloured one elsewhere. */
export function trayIconPath(layout: ShellLayout, platform: NodeJS.Platform): string {
  return path.join(layout.resourcesDir, platform === 'darwin' ? 'trayTemplate.png' : 'tray.png');
}
