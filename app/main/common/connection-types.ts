/**
 * Hosts: the local session driver (always there) and libvirt connections (`qemu:///system`,
 * `qemu:///session`, `qemu+ssh://user@host/system`), each a source of VMs in one list.
 */
import * as v from 'valibot';

/** The local session driver's host id; a libvirt connection's is `lv-` and 8 hex digits. */
export const LOCAL_HOST_ID = 'local';

/** The URI schemes libvirt's client library takes for QEMU hosts (and its in-memory test driver). */
export const LIBVIRT_URI_SCHEMES = [
  'qemu',
  'qemu+ssh',
  'qemu+tcp',
  'qemu+tls',
  'qemu+unix',
  'qemu+libssh2',
  'qemu+libssh',
];

/**
 * The URI parameters vmdesk passes on. Others are refused: libvirt runs the program `command=`
 * names in place of ssh, and a URI can come from a browser of `vmdesk web`, which must not choose
 * what runs on this computer. libvirt splits parameters on & and ;, decodes their names and
 * compares them without case: so does this check.
 */
const URI_PARAMS = new Set([
  'keyfile',
  'no_verify',
  'no_tty',
  'mode',
  'proxy',
  'sshauth',
  'known_hosts',
  'known_hosts_verify',
  'pkipath',
  'tls_priority',
  'netcat',
  'socket',
]);

/** Why a text is not a libvirt URI vmdesk connects to, or undefined when it is one. */
export function libvirtUriProblem(uri: string): string | undefined {
  const example = 'give one like qemu:///system, qemu:///session or qemu+ssh://user@host/system';
  // libvirt's in-memory test driver (tests): that one URI only, never a file it would read.
  if (uri === 'test:///default') return undefined;
  const m = /^([a-z0-9+]+):\/\/([^\s/?]*)\/([^\s?]*)(?:\?(\S*))?$/.exec(uri);
  if (!m) return `"${uri.slice(0, 100)}" is not a libvirt URI: ${example}.`;
  if (!LIBVIRT_URI_SCHEMES.includes(m[1]!))
    return `vmdesk connects to QEMU hosts through libvirt: the URI's scheme must be one of ${LIBVIRT_URI_SCHEMES.join(', ')}, not ${m[1]}.`;
  if (m[3] !== 'system' && m[3] !== 'session')
    return `A libvirt QEMU URI ends in /system or /session, not /${m[3]!.slice(0, 40)}: ${example}.`;
  for (const part of (m[4] ?? '').split(/[&;]/)) {
    if (part === '') continue;
    let name: string;
    try {
      name = decodeURIComponent(part.split('=')[0]!).toLowerCase();
    } catch {
      return `The URI's parameter "${part.slice(0, 40)}" is not valid percent-encoding.`;
    }
    if (name === 'command')
      return "vmdesk runs your own ssh: a URI's command= parameter is not taken (choose the ssh program and its options in ~/.ssh/config).";
    if (!URI_PARAMS.has(name))
      return `vmdesk does not pass the URI parameter "${name.slice(0, 40)}" on to libvirt; it takes ${[...URI_PARAMS].join(', ')}.`;
  }
  return undefined;
}

export const LibvirtUriSchema = v.pipe(
  v.string(),
  v.maxLength(1024, 'a libvirt URI can have at most 1024 characters'),
  v.check(
    (s: string) => libvirtUriProblem(s) === undefined,
    (issue) => libvirtUriProblem(String(issue.input)) ?? '',
  ),
);

export type ConnectionState = 'connected' | 'connecting' | 'disconnected' | 'error';

/** A host whose VMs vmdesk shows. */
export interface HostConnection {
  /** `local`, or `lv-` and 8 hex digits (from the URI). VM ids of a libvirt host are `ID/UUID`. */
  id: string;
  /** The libvirt URI; `local` for the session driver. */
  uri: string;
  /** What the list shows: "This computer", "qemu:///system", "root@server (system)". */
  label: string;
  kind: 'local' | 'libvirt';
  state: ConnectionState;
  /** libvirt's own words when connecting failed or the connection dropped. */
  error?: string;
  /** What to do about `error`, as a sentence. */
  fix?: string;
  /** Kept in settings and connected again when vmdesk starts. */
  remembered: boolean;
  /** The libvirt version of the host (e.g. "9.0.0") and its hostname, once connected. */
  hypervisor?: { hostname: string; libvirtVersion: string };
}

/** What a VM of a libvirt host carries in its summary (absent for local VMs). */
export interface VmHost {
  id: string;
  label: string;
  uri: string;
  /** The domain's name in libvirt (the VM's id is `HOST/UUID`). */
  domain: string;
}
