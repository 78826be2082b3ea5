/**
 * What the UI says about host connections: state words, the problem to show with a host, the
 * URI field's check, and the line a libvirt VM's settings carry instead of a form.
 */
import {
  LOCAL_HOST_ID,
  libvirtUriProblem,
  type ConnectionState,
  type HostConnection,
  type VmHost,
} from '../../../main/common/connection-types.js';

/** The URIs the Add connection form offers, with what each reaches. */
export const URI_EXAMPLES: readonly { uri: string; what: string }[] = [
  { uri: 'qemu:///system', what: 'the libvirt daemon of this computer' },
  { uri: 'qemu:///session', what: 'your own libvirt session on this computer' },
  { uri: 'qemu+ssh://user@host/system', what: 'another computer, over SSH' },
];

export const HOST_STATE_WORDS: Record<ConnectionState, string> = {
  connected: 'connected',
  connecting: 'connecting…',
  disconnected: 'disconnected',
  error: 'failed',
};

/** The state dot's colour family (the same as a VM's: .state-ok, .state-busy …). */
export const HOST_STATE_TONE: Record<ConnectionState, 'ok' | 'busy' | 'idle' | 'bad'> = {
  connected: 'ok',
  connecting: 'busy',
  disconnected: 'idle',
  error: 'bad',
};

export const isLocalHost = (h: Pick<HostConnection, 'id'>) => h.id === LOCAL_HOST_ID;

/**
 * What to show under a host that is not connected: libvirt's words and what to do (pushed with the
 * connection), or the refusal of the last reconnect, or just that it is disconnected. Nothing for
 * a connected or connecting host.
 */
export function hostProblem(
  h: Pick<HostConnection, 'state' | 'error' | 'fix'>,
  callError?: string,
): { text: string; fix?: string } | undefined {
  if (h.state === 'connected' || h.state === 'connecting') return undefined;
  if (h.error) return h.fix ? { text: h.error, fix: h.fix } : { text: h.error };
  if (callError) return { text: callError };
  return h.state === 'disconnected'
    ? { text: 'Disconnected: its VMs are not shown. Reconnect to see them.' }
    : { text: 'The connection failed. Reconnect to try again.' };
}

/** Why the Add connection form cannot connect to `typed` yet (shown as the field's error). */
export function uriFieldProblem(typed: string): string | undefined {
  const uri = typed.trim();
  if (uri === '') return 'Type a libvirt URI, e.g. qemu:///system.';
  if (/[<>]|\buser@host\b/.test(uri))
    return 'Put the real user and host name in place of user@host, e.g. qemu+ssh://root@server.example/system.';
  return libvirtUriProblem(uri);
}

/** `word` as one shell word (for commands the user copies). */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The virsh command that changes a libvirt VM's settings. */
export function virshEditCommand(h: Pick<VmHost, 'uri' | 'domain'>): string {
  return `virsh -c ${shellWord(h.uri)} edit ${shellWord(h.domain)}`;
}

/** The line a libvirt VM shows where a local VM has its settings form. */
export function libvirtManagedLine(h: Pick<VmHost, 'label' | 'domain'>): string {
  return `This VM is managed by libvirt on ${h.label}; change its settings with virsh edit ${h.domain}.`;
}

/** A VM's network in words: a libvirt VM's card is connected however libvirt's definition says. */
export function networkText(vm: { host?: VmHost; definition?: { network: { mode: 'user' | 'none' } } }): string {
  const mode = vm.definition?.network.mode ?? 'none';
  if (mode === 'none') return 'None';
  return vm.host ? 'A network card, connected as libvirt defines it' : 'User-mode (NAT)';
}

/** "No VMs on qemu:///system" ("on this computer" for the local host). */
export function noVmsText(group: { id: string; label: string }): string {
  return group.id === LOCAL_HOST_ID ? 'No VMs on this computer.' : `No VMs on ${group.label}.`;
}
