/**
 * The root side of mdev: writing to sysfs (create/remove) and to /etc (udev rule, memlock limit,
 * modules-load.d; the udev rule that opens one USB device to the seat's user) goes through
 * resources/mdev-helper/vmdesk-mdev-helper run by pkexec, one prompt per call. When pkexec is
 * missing, vmdesk prints the exact command to copy instead.
 *
 * Arguments are validated here with the helper's own rules (UUIDs and sysfs names by the one rule
 * in common/names.ts), so a bad value is refused with a clear message before any prompt; the
 * helper validates again (it trusts nobody).
 */
import { spawn } from 'node:child_process';
import { existsSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { VmdeskError } from '../common/errors.js';
import { isSysfsName, isUuid } from '../common/names.js';
import type { CommandResult } from '../host/host-io.js';
import type { MdevFixAction } from '../common/mdev-types.js';

export const HELPER_NAME = 'vmdesk-mdev-helper';
/** Overrides where the helper is (packagers, the Electron shell with its resources dir). */
export const HELPER_ENV = 'VMDESK_MDEV_HELPER';
/** Where a distribution package puts it: root-owned, so what pkexec runs is what was audited. */
export const PACKAGED_HELPER = '/usr/libexec/vmdesk/vmdesk-mdev-helper';
export const PKEXEC_PATHS = ['/usr/bin/pkexec', '/bin/pkexec', '/usr/local/bin/pkexec'];
/** The user may take a while to type a password. */
export const PRIVILEGED_TIMEOUT_MS = 5 * 60_000;

export const USER_RE = /^(?![.-])[A-Za-z0-9_.-]{1,32}$/;
const MAX_KIB = 10 ** 15 - 1;

/** Why `a` would be refused by the helper, or undefined when it is acceptable. */
export function actionProblem(a: MdevFixAction): string | undefined {
  const uuid = (u: string) =>
    isUuid(u) ? undefined : `"${u}" is not a UUID (like 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001).`;
  const name = (what: string, n: string) =>
    isSysfsName(n)
      ? undefined
      : `"${n}" is not a valid mdev ${what} name (letters, digits, _ . : - only, not starting with ".").`;
  switch (a.kind) {
    case 'create':
      return name('parent', a.parent) ?? name('type', a.type) ?? uuid(a.uuid);
    case 'remove':
      return uuid(a.uuid);
    case 'memlock':
      if (!USER_RE.test(a.user)) return `"${a.user}" is not a user name the helper accepts.`;
      return Number.isSafeInteger(a.kib) && a.kib > 0 && a.kib <= MAX_KIB
        ? undefined
        : `${a.kib} is not a memlock size in KiB.`;
    case 'usb-rule':
      // Lands in a file name under /etc and a udev match: four hex digits, nothing else, ever.
      return [a.vendorId, a.productId].every((id) => /^[0-9a-f]{4}$/.test(id))
        ? undefined
        : `"${a.vendorId}:${a.productId}" is not a USB vendor:product pair (four lowercase hex digits each, like 046d:c52b).`;
    case 'udev-rule':
    case 'modules':
      return undefined;
  }
}

function check(a: MdevFixAction): void {
  const problem = actionProblem(a);
  if (problem) throw new VmdeskError('invalid-argument', problem, { action: a.kind });
}

/** `create --parent P --type T --uuid U [--persistent]` or `remove --uuid U [--persistent]`. */
export function helperArgs(a: Extract<MdevFixAction, { kind: 'create' | 'remove' }>): string[] {
  check(a);
  const persistent = a.persistent ? ['--persistent'] : [];
  if (a.kind === 'create')
    return ['create', '--parent', a.parent, '--type', a.type, '--uuid', a.uuid.toLowerCase(), ...persistent];
  return ['remove', '--uuid', a.uuid.toLowerCase(), ...persistent];
}

/** One `apply-fix` token per action, as the helper splits them (on commas). */
export function actionToken(a: MdevFixAction): string {
  check(a);
  switch (a.kind) {
    case 'create':
      return ['create', a.parent, a.type, a.uuid.toLowerCase(), ...(a.persistent ? ['persistent'] : [])].join(',');
    case 'remove':
      return ['remove', a.uuid.toLowerCase(), ...(a.persistent ? ['persistent'] : [])].join(',');
    case 'memlock':
      return `memlock,${a.user},${a.kib}`;
    case 'udev-rule':
      return 'udev-rule';
    case 'modules':
      return 'modules';
    case 'usb-rule':
      return `usb-rule,${a.vendorId},${a.productId}`;
  }
}

/** `apply-fix` with each distinct action once, in a safe order: modules and the udev rules
 * before devices are created (so the new group node gets the rule), the memlock limit last. */
export function applyFixArgs(actions: readonly MdevFixAction[]): string[] {
  if (actions.length === 0 || actions.length > 16)
    throw new VmdeskError('invalid-argument', 'apply-fix takes 1 to 16 actions.');
  const order: MdevFixAction['kind'][] = ['modules', 'udev-rule', 'usb-rule', 'remove', 'create', 'memlock'];
  const tokens = [...actions].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind)).map(actionToken);
  return ['apply-fix', ...new Set(tokens)];
}

/** POSIX shell quoting for the command a user copies. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The helper: $VMDESK_MDEV_HELPER, the packaged copy, or resources/mdev-helper/ found by walking
 * up from `programDir`, the directory of the running program's own files (dist/cli, the shell's
 * dist/shell outside the asar, app/main/... in the sources). Only the entry point knows that
 * directory (bin.ts from its module URL, the shell's main from __dirname), so it is passed down,
 * never derived here: in the shell's CommonJS bundle a module has no URL of its own.
 *
 * The path returned has no symbolic link left in it: helperTrustProblem checks the directories
 * that really hold the file, and pkexec runs that very file.
 */
export function locateHelper(
  programDir: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  exists: (p: string) => boolean = existsSync,
  realpath: (p: string) => string = resolvedPath,
): string | undefined {
  const found = ((): string | undefined => {
    const override = env[HELPER_ENV];
    if (override && path.isAbsolute(override)) return exists(override) ? override : undefined;
    if (exists(PACKAGED_HELPER)) return PACKAGED_HELPER;
    if (programDir === undefined) return undefined;
    let dir = programDir;
    for (let i = 0; i < 6; i++) {
      const candidate = path.join(dir, 'resources', 'mdev-helper', HELPER_NAME);
      if (exists(candidate)) return candidate;
      dir = path.dirname(dir);
    }
    return undefined;
  })();
  return found === undefined ? undefined : realpath(found);
}

/** The path with every symbolic link resolved; the path itself when it cannot be (it is checked later). */
function resolvedPath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/** Names the program used in place of pkexec (another polkit front-end; the e2e tests' stand-in). */
export const PKEXEC_ENV = 'VMDESK_PKEXEC';

export function findPkexec(
  exists: (p: string) => boolean = existsSync,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const override = env[PKEXEC_ENV];
  if (override && path.isAbsolute(override)) return exists(override) ? override : undefined;
  return PKEXEC_PATHS.find((p) => exists(p));
}

/** Runs argv[0] with argv[1..]; MUST NOT reject (failures are in the result). */
export type PrivilegedRunner = (argv: readonly string[], options: { timeoutMs: number }) => Promise<CommandResult>;

export interface PrivilegedDeps {
  helper: string | undefined;
  /** pkexec's path; undefined when it is not installed. */
  pkexec: string | undefined;
  run: PrivilegedRunner;
  /** Why the helper must not be run as root (see helperTrustProblem); undefined when it may. */
  trust?: (helper: string) => string | undefined;
}

/**
 * What pkexec runs as root must be what root would run: a regular file owned by root that only
 * root can change, in directories only root can change (sticky ones like /tmp excepted: others
 * cannot replace what they do not own there). Otherwise any program running as the user could
 * swap the helper and ride on the user's next password prompt.
 */
export function helperTrustProblem(
  helper: string,
  stat: (p: string) => { uid: number; mode: number; isFile(): boolean } = statSync,
): string | undefined {
  const install = `sudo install -D -o root -g root -m 0755 ${shellQuote(helper)} ${PACKAGED_HELPER}`;
  try {
    const f = stat(helper);
    if (!f.isFile() || f.uid !== 0 || (f.mode & 0o022) !== 0) {
      return `vmdesk will not run ${helper} as root: it is not a root-owned file that only root can change. Install the helper where root owns it: ${install}`;
    }
    for (let dir = path.dirname(helper); ; dir = path.dirname(dir)) {
      const d = stat(dir);
      if (d.uid !== 0 || ((d.mode & 0o022) !== 0 && (d.mode & 0o1000) === 0)) {
        return `vmdesk will not run ${helper} as root: ${dir} can be changed by users other than root. Install the helper where root owns it: ${install}`;
      }
      if (dir === path.dirname(dir)) return undefined;
    }
  } catch (err) {
    return `vmdesk cannot check ${helper} (${(err as Error).message}).`;
  }
}

export type PrivilegedOutcome =
  | { status: 'done'; command: string; output: string }
  /** No pkexec: `command` is what to paste into a terminal (with sudo). */
  | { status: 'manual'; command: string }
  | { status: 'cancelled' | 'failed'; command: string; message: string };

/** Exactly what runs: `pkexec /abs/helper args...`. */
export function privilegedArgv(helper: string, pkexec: string, args: readonly string[]): string[] {
  return [pkexec, helper, ...args];
}

/** Runs the helper through pkexec, or says what to paste when pkexec is missing. */
export async function runPrivileged(deps: PrivilegedDeps, args: readonly string[]): Promise<PrivilegedOutcome> {
  if (!deps.helper) {
    throw new VmdeskError(
      'internal',
      `The privileged helper ${HELPER_NAME} is missing from this vmdesk installation (looked in $${HELPER_ENV}, ${PACKAGED_HELPER} and resources/mdev-helper/).`,
    );
  }
  const manual = ['sudo', deps.helper, ...args].map(shellQuote).join(' ');
  if (!deps.pkexec) return { status: 'manual', command: manual };
  const distrust = deps.trust?.(deps.helper);
  if (distrust) throw new VmdeskError('unsupported', distrust);
  const argv = privilegedArgv(deps.helper, deps.pkexec, args);
  const command = argv.map(shellQuote).join(' ');
  const r = await deps.run(argv, { timeoutMs: PRIVILEGED_TIMEOUT_MS });
  if (r.code === 0) return { status: 'done', command, output: r.stdout };
  const said =
    (r.stderr.trim() || r.error || '')
      .split('\n')
      .filter(Boolean)
      .pop()
      ?.replace(/^vmdesk-mdev-helper: /, '') ?? '';
  // pkexec(1): 126 = the authentication dialog was dismissed, 127 = not authorized or no agent.
  if (r.code === 126)
    return { status: 'cancelled', command, message: 'The password prompt was dismissed; nothing was changed.' };
  if (r.code === 127) {
    return {
      status: 'failed',
      command,
      message: `pkexec could not get authorization (${said || 'no polkit agent?'}). Run it yourself instead: ${manual}`,
    };
  }
  return { status: 'failed', command, message: said || `the helper failed (exit code ${r.code ?? 'none'})` };
}

/** A runner whose stdin is this terminal, so pkexec's text agent can ask for the password. */
export const interactiveRunner: PrivilegedRunner = (argv, o) => runWithStdin(argv, o, 'inherit');

/** For the driver (window, tray, `vmdesk web`): no terminal; the desktop's polkit agent asks. */
export const agentRunner: PrivilegedRunner = (argv, o) => runWithStdin(argv, o, 'ignore');

/** Only what pkexec (and its text agent) need: none of vmdesk's own variables reach root. */
export function privilegedEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const keep = ['LANG', 'LC_ALL', 'LC_MESSAGES', 'TERM'];
  return {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    ...Object.fromEntries(keep.flatMap((k) => (env[k] ? [[k, env[k]]] : []))),
  };
}

function runWithStdin(
  argv: readonly string[],
  { timeoutMs }: { timeoutMs: number },
  stdin: 'inherit' | 'ignore',
): Promise<CommandResult> {
  return new Promise<CommandResult>((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: [stdin, 'pipe', 'pipe'],
      timeout: timeoutMs,
      env: privilegedEnv(process.env),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => resolve({ code: null, stdout, stderr, error: err.message }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
