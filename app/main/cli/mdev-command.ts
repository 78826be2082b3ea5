/**
 * `vmdesk mdev list|types|create|remove|check`: what the host offers, creating and removing
 * mediated devices (one pkexec prompt each), and the doctor's verdicts for a VM with the fixes
 * (`--fix` applies every fix the helper can make with one prompt).
 *
 * Exit codes as the rest of the CLI: 0 success, 1 a problem the user can fix, 2 internal.
 */
import { parseArgs } from 'node:util';
import { isUserError, serializeError, VmdeskError } from '../common/errors.js';
import { isUuid } from '../common/names.js';
import type { CallParams } from '../common/contract.js';
import type { VmSummary } from '../common/vm-types.js';
import { findPkexec, interactiveRunner, locateHelper, type PrivilegedDeps } from '../mdev/index.js';
import { helperTrustProblem } from '../mdev/privileged.js';
import { formatChecks, formatInventory, formatTypes } from '../mdev/format.js';
import {
  createMdevService,
  manualError,
  type MdevCheckReport,
  type MdevPrivilegedResult,
  type MdevServiceDeps,
} from '../mdev/service.js';

export interface MdevCliIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

/** What `vmdesk mdev` needs from the rest of vmdesk; main.ts adapts the driver link to it. */
export interface MdevCliDeps extends Omit<MdevServiceDeps, 'privileged'> {
  /** Default: pkexec with this terminal (its text agent asks for the password here). */
  privileged?: PrivilegedDeps;
  /** Where the helper is looked for beside the program (locateHelper); from the CLI's entry. */
  programDir?: string;
  /** The driver's mdev.assign / mdev.unassign (they change a VM definition, which the driver owns). */
  assign?(p: CallParams<'mdev.assign'>): Promise<VmSummary>;
  unassign?(p: CallParams<'mdev.unassign'>): Promise<VmSummary>;
  /**
   * The driver's mdev.check: its verdicts are about the process that starts QEMU (its memlock
   * limit, its groups), not this terminal's. Without it the checks run here.
   */
  check?(p: CallParams<'mdev.check'>): Promise<MdevCheckReport>;
}

const USAGE = `Usage:
  vmdesk mdev list [--json]                    parents, existing devices, mdevctl definitions
  vmdesk mdev types [PARENT] [--json]          the types a parent offers, with their details
  vmdesk mdev create --parent PARENT --type TYPE [--uuid UUID] [--persistent] [--json]
  vmdesk mdev remove UUID [--persistent] [--json]
  vmdesk mdev check VM [--fix [--persistent]] [--json]
                                               is the host ready for the VM's mediated devices?
                                               (--persistent: devices --fix creates come back at boot; needs mdevctl)
  vmdesk mdev assign VM --parent PARENT --type TYPE [--uuid UUID] [--no-display] [--json]
                                               give a stopped VM a device (a new UUID unless given;
                                               create it with \`vmdesk mdev check VM --fix\`)
  vmdesk mdev unassign VM UUID [--json]        take it off again (the device itself stays)
Creating and removing needs root: vmdesk asks through pkexec (one password prompt).
`;

type Values = Record<string, string | boolean | undefined>;

function parse(
  args: string[],
  options: Record<string, { type: 'string' | 'boolean' }>,
): { values: Values; positionals: string[] } {
  try {
    return parseArgs({
      args,
      options: { json: { type: 'boolean' }, ...options },
      allowPositionals: true,
      strict: true,
    }) as { values: Values; positionals: string[] };
  } catch (err) {
    throw new VmdeskError('invalid-argument', `${(err as Error).message}\n${USAGE}`);
  }
}

function noExtra(positionals: string[], max: number): void {
  if (positionals.length > max)
    throw new VmdeskError('invalid-argument', `Unexpected argument "${positionals[max]}".\n${USAGE}`);
}

export async function runMdev(args: string[], io: MdevCliIo, deps: MdevCliDeps): Promise<number> {
  const [sub, ...rest] = args;
  let json = false;
  const service = createMdevService({
    ...deps,
    // The terminal is pkexec's: its text agent asks for the password there.
    privileged: () =>
      deps.privileged ?? {
        helper: locateHelper(deps.programDir),
        pkexec: findPkexec(),
        run: interactiveRunner,
        trust: helperTrustProblem,
      },
  });
  const print = (value: unknown, text: string) => io.out.write(json ? JSON.stringify(value, null, 2) + '\n' : text);
  try {
    switch (sub) {
      case undefined:
      case 'help':
      case '--help':
        io.out.write(USAGE);
        return sub ? 0 : 1;
      case 'list': {
        const a = parse(rest, {});
        json = !!a.values.json;
        noExtra(a.positionals, 0);
        const inv = await service.inventory();
        print(inv, formatInventory(inv));
        return 0;
      }
      case 'types': {
        const a = parse(rest, {});
        json = !!a.values.json;
        noExtra(a.positionals, 1);
        const parents = await service.types(a.positionals[0]);
        print(parents, formatTypes(await service.inventory(), a.positionals[0]));
        return 0;
      }
      case 'create': {
        const a = parse(rest, {
          parent: { type: 'string' },
          type: { type: 'string' },
          uuid: { type: 'string' },
          persistent: { type: 'boolean' },
        });
        json = !!a.values.json;
        noExtra(a.positionals, 0);
        const parent = a.values.parent as string | undefined;
        const type = a.values.type as string | undefined;
        if (!parent || !type)
          throw new VmdeskError(
            'invalid-argument',
            `\`vmdesk mdev create\` needs --parent and --type (see \`vmdesk mdev types\`).`,
          );
        const dev = done(
          await service.create({
            parent,
            type,
            uuid: a.values.uuid as string | undefined,
            persistent: !!a.values.persistent,
          }),
          'create the device',
        );
        print(dev, `Created ${dev.uuid} (${type} on ${parent}, IOMMU group ${dev.iommuGroup ?? '?'}).\n`);
        return 0;
      }
      case 'remove': {
        const a = parse(rest, { persistent: { type: 'boolean' } });
        json = !!a.values.json;
        noExtra(a.positionals, 1);
        const uuid = a.positionals[0]?.toLowerCase();
        if (!uuid || !isUuid(uuid))
          throw new VmdeskError(
            'invalid-argument',
            `\`vmdesk mdev remove\` takes the UUID of a device (see \`vmdesk mdev list\`)${uuid ? `, not "${uuid}"` : ''}.`,
          );
        const r = done(await service.remove({ uuid, persistent: !!a.values.persistent }), `remove ${uuid}`);
        print(
          { uuid },
          `Removed ${uuid}.${r.stillAssignedTo.length ? ` It is still assigned to ${r.stillAssignedTo.map((n) => `"${n}"`).join(', ')}, which cannot start until it gets a device again.` : ''}\n`,
        );
        return 0;
      }
      case 'check': {
        const a = parse(rest, { fix: { type: 'boolean' }, persistent: { type: 'boolean' } });
        json = !!a.values.json;
        noExtra(a.positionals, 1);
        if (!a.positionals[0])
          throw new VmdeskError('invalid-argument', '`vmdesk mdev check` takes a VM (a name or an id).');
        const vm = a.positionals[0];
        const check = () => (deps.check ? deps.check({ vm }) : service.check(vm));
        let report = await check();
        if (a.values.fix) {
          // The prompt is this terminal's (pkexec's text agent); the verdicts stay the driver's.
          if (report.fixActions.length > 0) {
            done(
              await service.applyActions(report.fixActions, { persistent: !!a.values.persistent }),
              'apply the fixes',
            );
            report = await check();
          } else if (!json)
            io.err.write('Nothing here can be fixed by vmdesk itself; the fixes below say what to do.\n');
        }
        const none = report.hostOnly
          ? `"${report.vm}" has no mediated devices assigned; these are the host's checks only.\n`
          : '';
        print(
          { vm: report.vm, ready: report.ready, checks: report.checks },
          none + formatChecks(report.vm, report.checks) + hint(report, !!a.values.fix),
        );
        return report.ready ? 0 : 1;
      }
      case 'assign': {
        const a = parse(rest, {
          parent: { type: 'string' },
          type: { type: 'string' },
          uuid: { type: 'string' },
          'no-display': { type: 'boolean' },
        });
        json = !!a.values.json;
        noExtra(a.positionals, 1);
        const [vm] = a.positionals;
        const parent = a.values.parent as string | undefined;
        const type = a.values.type as string | undefined;
        if (!vm || !parent || !type)
          throw new VmdeskError(
            'invalid-argument',
            '`vmdesk mdev assign` takes a VM, --parent and --type (see `vmdesk mdev types`).',
          );
        const uuid = a.values.uuid as string | undefined;
        if (uuid !== undefined && !isUuid(uuid))
          throw new VmdeskError(
            'invalid-argument',
            `"${uuid}" is not a UUID (like 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001).`,
          );
        const r = await required(
          deps.assign,
          'assign',
        )({ vm, parent, type, ...(uuid ? { uuid } : {}), ...(a.values['no-display'] ? { display: false } : {}) });
        const added = r.definition?.mdevs.at(-1);
        print(
          r,
          `Assigned ${added?.uuid} (${type} on ${parent}${added?.display ? ', shown in the console' : ''}) to "${r.name}". Check the host with: vmdesk mdev check "${r.name}"\n`,
        );
        return 0;
      }
      case 'unassign': {
        const a = parse(rest, {});
        json = !!a.values.json;
        noExtra(a.positionals, 2);
        const [vm, uuid] = a.positionals;
        if (!vm || !uuid || !isUuid(uuid))
          throw new VmdeskError(
            'invalid-argument',
            '`vmdesk mdev unassign` takes a VM and the UUID of one of its devices (see `vmdesk info VM`).',
          );
        const r = await required(deps.unassign, 'unassign')({ vm, uuid });
        print(
          r,
          `"${r.name}" no longer uses ${uuid.toLowerCase()}; the device stays on the host (vmdesk mdev remove ${uuid.toLowerCase()} removes it).\n`,
        );
        return 0;
      }
      default:
        throw new VmdeskError('invalid-argument', `Unknown mdev command "${sub}".\n${USAGE}`);
    }
  } catch (err) {
    const e = serializeError(err);
    io.err.write(`vmdesk: ${e.message}\n`);
    if (json) io.out.write(JSON.stringify({ error: e }) + '\n');
    return isUserError(e.code) ? 1 : 2;
  }
}

function required<T>(f: T | undefined, what: string): T {
  if (!f) throw new VmdeskError('internal', `vmdesk mdev ${what} is not wired to the driver here.`);
  return f;
}

/** The CLI needs the step done: without pkexec it stops with the command to paste. */
function done<T>(r: MdevPrivilegedResult<T>, what: string): T {
  if (r.outcome === 'manual') throw manualError(r.command, what);
  return r.result;
}

function hint(r: MdevCheckReport, fixed: boolean): string {
  if (r.ready || r.fixActions.length === 0 || fixed) return '';
  return `\nApply the fixes vmdesk can make (${r.fixActions.length}) with one password prompt: vmdesk mdev check "${r.vm}" --fix\n`;
}
