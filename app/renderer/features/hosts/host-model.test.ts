import { describe, expect, it } from 'vitest';
import {
  hostProblem,
  libvirtManagedLine,
  networkText,
  noVmsText,
  uriFieldProblem,
  virshEditCommand,
} from './host-model.js';

describe('what the UI says about hosts', () => {
  it('shows libvirt’s words and what to do under a failed host, and nothing under a connected one', () => {
    expect(hostProblem({ state: 'connected', error: 'stale' })).toBeUndefined();
    expect(hostProblem({ state: 'connecting' })).toBeUndefined();
    expect(hostProblem({ state: 'error', error: 'Cannot recv data', fix: 'Check ssh.' })).toEqual({
      text: 'Cannot recv data',
      fix: 'Check ssh.',
    });
    expect(hostProblem({ state: 'error' }, 'authentication failed: run ssh-add')).toEqual({
      text: 'authentication failed: run ssh-add',
    });
    expect(hostProblem({ state: 'disconnected' })?.text).toMatch(/^Disconnected: .* Reconnect/);
  });

  it('checks a typed URI at once: empty, the example placeholder, and a scheme libvirt does not take', () => {
    expect(uriFieldProblem('  ')).toBe('Type a libvirt URI, e.g. qemu:///system.');
    expect(uriFieldProblem('qemu+ssh://user@host/system')).toMatch(/real user and host name/);
    expect(uriFieldProblem('xen:///system')).toMatch(/scheme must be one of/);
    expect(uriFieldProblem('server.example')).toMatch(/is not a libvirt URI/);
    expect(uriFieldProblem(' qemu:///system ')).toBeUndefined();
    expect(uriFieldProblem('qemu+ssh://root@127.0.0.1:2222/system?keyfile=/k&no_verify=1')).toBeUndefined();
  });

  it('gives the virsh command for a libvirt VM’s settings, quoted for the shell', () => {
    expect(virshEditCommand({ uri: 'qemu:///system', domain: 'web-1' })).toBe('virsh -c qemu:///system edit web-1');
    expect(virshEditCommand({ uri: 'qemu+ssh://root@h/system?keyfile=/k&no_verify=1', domain: "Bob's VM" })).toBe(
      `virsh -c 'qemu+ssh://root@h/system?keyfile=/k&no_verify=1' edit 'Bob'\\''s VM'`,
    );
    expect(libvirtManagedLine({ label: 'qemu:///system', domain: 'web-1' })).toBe(
      'This VM is managed by libvirt on qemu:///system; change its settings with virsh edit web-1.',
    );
  });

  it('names the empty group', () => {
    expect(noVmsText({ id: 'local', label: 'This computer' })).toBe('No VMs on this computer.');
    expect(noVmsText({ id: 'lv-1', label: 'root@server (system)' })).toBe('No VMs on root@server (system).');
  });
});

describe('a VM’s network in words', () => {
  it('says user-mode NAT for vmdesk’s own VMs and libvirt’s definition for libvirt’s', () => {
    const def = { network: { mode: 'user' as const } };
    expect(networkText({ definition: def })).toBe('User-mode (NAT)');
    expect(networkText({ definition: def, host: { id: 'lv-1', label: 'h', uri: 'qemu:///system', domain: 'd' } })).toBe(
      'A network card, connected as libvirt defines it',
    );
    expect(networkText({ definition: { network: { mode: 'none' } } })).toBe('None');
  });
});
