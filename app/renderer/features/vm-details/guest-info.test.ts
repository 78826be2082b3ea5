import { describe, expect, it } from 'vitest';
import type { GuestAgentInfo } from '../../../main/common/vm-types.js';
import { sampleDefinition } from '../../dev/fake-data.js';
import {
  addressesByInterface,
  devicesText,
  firmwareText,
  guestCard,
  guestIps,
  guestOsText,
  osSummary,
} from './guest-info.js';

const info: GuestAgentInfo = {
  hostname: 'web01',
  os: { name: 'Debian GNU/Linux', version: '12 (bookworm)', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
  addresses: [
    { iface: 'enp0s2', address: 'fec0::5054:ff:fe12:3456', prefix: 64, family: 'ipv6' },
    { iface: 'enp0s2', address: '10.0.2.15', prefix: 24, family: 'ipv4' },
    { iface: 'docker0', address: '172.17.0.1', prefix: 16, family: 'ipv4' },
  ],
  at: '2026-12-03T20:00:00.000Z',
};

describe("the Overview's guest card", () => {
  it('shows what the agent said while the VM runs', () => {
    expect(guestCard({ state: 'running', guest: { connected: true, info } })).toEqual({ kind: 'info', info });
    // Paused: the last answer still describes it.
    expect(guestCard({ state: 'paused', guest: { connected: true, info } })).toEqual({ kind: 'info', info });
  });

  it('says no agent answered while the VM runs without one, whether or not the driver sent `guest`', () => {
    expect(guestCard({ state: 'running', guest: { connected: false } })).toEqual({ kind: 'no-agent' });
    expect(guestCard({ state: 'running' })).toEqual({ kind: 'no-agent' });
    // Connected but nothing read yet: not something to show.
    expect(guestCard({ state: 'running', guest: { connected: true } })).toEqual({ kind: 'no-agent' });
  });

  it('shows nothing while the VM is stopped, starting or paused without an answer', () => {
    for (const state of ['stopped', 'crashed', 'broken', 'starting', 'stopping'] as const)
      expect(guestCard({ state, guest: { connected: true, info } })).toEqual({ kind: 'hidden' });
    expect(guestCard({ state: 'paused', guest: { connected: false } })).toEqual({ kind: 'hidden' });
  });

  it('names the OS by its pretty name, else by name and version', () => {
    expect(guestOsText(info.os)).toBe('Debian GNU/Linux 12 (bookworm)');
    expect(guestOsText({ name: 'Microsoft Windows 11', version: '10.0.22631' })).toBe(
      'Microsoft Windows 11 10.0.22631',
    );
    expect(guestOsText(undefined)).toBeUndefined();
  });

  it('lists the addresses by interface, IPv4 first, with their prefix', () => {
    expect(addressesByInterface(info.addresses)).toEqual([
      ['enp0s2', ['10.0.2.15/24', 'fec0::5054:ff:fe12:3456/64']],
      ['docker0', ['172.17.0.1/16']],
    ]);
    expect(addressesByInterface([])).toEqual([]);
  });
});

describe('the guest-facing hardware in words', () => {
  const d = sampleDefinition('0f3c1a2b-6d7e-4f80-9a1b-2c3d4e5f6a7b', 'w');
  it('says Secure Boot as part of the firmware', () => {
    expect(firmwareText({ firmware: 'uefi', secureBoot: true })).toBe('UEFI with Secure Boot');
    expect(firmwareText({ firmware: 'uefi', secureBoot: false })).toBe('UEFI');
    expect(firmwareText({ firmware: 'bios', secureBoot: false })).toBe('BIOS');
  });

  it('names the disk bus and network card', () => {
    expect(devicesText(d)).toBe('virtio disks, virtio network card');
    expect(devicesText({ devices: { disk: 'sata', nic: 'e1000e' } })).toBe('SATA disks, Intel e1000e network card');
  });
});

describe("the Overview's summary of the guest", () => {
  it('lists the addresses the agent reports, IPv4 first, without prefixes', () => {
    expect(guestIps({ state: 'running', guest: { connected: true, info } })).toEqual([
      '10.0.2.15',
      '172.17.0.1',
      'fec0::5054:ff:fe12:3456',
    ]);
  });

  it('lists none while no agent answers or the VM is off', () => {
    expect(guestIps({ state: 'running', guest: { connected: false } })).toEqual([]);
    expect(guestIps({ state: 'stopped', guest: { connected: true, info } })).toEqual([]);
  });

  it('names the OS as the agent does, else as the VM was made for, else not at all', () => {
    const definition = {
      ...sampleDefinition('3f2a9c41-7d1e-4b8a-9f0c-2e6d5b7a1c91', 'x'),
      os: { id: 'http://debian.org/debian/12', name: 'Debian 12' },
    };
    expect(osSummary({ state: 'running', guest: { connected: true, info }, definition })).toBe(
      'Debian GNU/Linux 12 (bookworm)',
    );
    expect(osSummary({ state: 'stopped', definition })).toBe('Debian 12');
    expect(osSummary({ state: 'stopped', definition: { ...definition, os: undefined } })).toBeUndefined();
  });
});
