/** Where the shell finds its files, relative to the directory of the built main.cjs (dist/shell/). */
import path from 'node:path';

export interface ShellLayout {
  /** The built renderer (index.html, app.js...), served on app://. */
  rendererDir: string;
  /** The bundled preload. */
  preload: string;
  /** Icons (packaged next to dist/ as resources/). */
  resourcesDir: string;
}

export function shellLayout(shellDir: string): ShellLayout {
  return {
    rendererDir: path.join(shellDir, '..', 'renderer'),
    preload: path.join(shellDir, 'preload.cjs'),
    resourcesDir: path.join(shellDir, '..', '..', 'resources'),
  };
}

/** The tray icon for this platform: a template image on macOS, a coloured one elsewhere. */
export function trayIconPath(layout: ShellLayout, platform: NodeJS.Platform): string {
  return path.join(layout.resourcesDir, platform === 'darwin' ? 'trayTemplate.png' : 'tray.png');
}
