/**
 * Hosts: the local session driver (always there) and libvirt connections (`qemu:///system`,
 * `qemu:///session`, `qemu+ssh://user@host/system`), each a source of VMs in one list.
 */
import * as v from 'valibot';

/** The local session driver's host id; a libvirt connection's is `lv-` and 8 hex digits. */
export const LOCAL_HOST_ID = 'local';

/** The URI schemes libvirt's client library takes for QEMU hosts (and its test driver). */
export const LIBVIRT_URI_SCHEMES = ['qemu', 'qemu+ssh', 'qemu+tcp', 'qemu+tls', 'qemu+unix', 'qemu+libssh2', 'test'];

/** Why a text is not a libvirt URI vmdesk connects to, or undefined when it is one. */
export function libvirtUriProblem(uri: string): string | undefined {
  const m = /^([a-z0-9+]+):\/\/([^\s/]*)\/([^\s]*)$/.exec(uri);
  if (!m)
    return `"${uri.slice(0, 100)}" is not a libvirt URI: give one like qemu:///system, qemu:///session or qemu+ssh://user@host/system.`;
  if (!LIBVIRT_URI_SCHEMES.includes(m[1]!))
    return `vmdesk connects to QEMU hosts through libvirt: the URI's scheme must be one of ${LIBVIRT_URI_SCHEMES.join(', ')}, not ${m[1]}.`;
  // libvirt runs the program a URI's `command=` names in place of ssh: a URI sent over the
  // contract (a browser of `vmdesk web`) must not choose what runs on this computer.
  if (/[?&]command=/.test(uri))
    return "vmdesk runs your own ssh: a URI's command= parameter is not taken (choose the ssh program and its options in ~/.ssh/config).";
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
