/**
 * ISO paths handed to the app by the system: a command line (Linux file managers run
 * `vmdesk /path/x.iso`; a second launch forwards its argv to the first) or macOS `open-file`.
 */
import path from 'node:path';

export function isIsoPath(p: string): boolean {
  return /\.iso$/i.test(p);
}

/**
 * The .iso arguments of a command line, made absolute against the launching process's working
 * directory. Switches (Chromium adds some to a forwarded argv) and everything else are ignored,
 * including the executable and the app's own script (`electron dist/shell/main.cjs x.iso`).
 */
export function isoPathsFromArgv(argv: readonly string[], cwd: string): string[] {
  return argv.filter((a) => !a.startsWith('-') && isIsoPath(a)).map((a) => path.resolve(cwd, a));
}
