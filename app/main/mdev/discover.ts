/**
 * Discovery of mediated devices under a configurable sysfs root:
 *   /sys/class/mdev_bus/<parent>                      parents (symlinks to the device directory)
 *   <parent>/mdev_supported_types/<type>/{name,description,device_api,available_instances,create,devices/}
 *   /sys/bus/mdev/devices/<uuid>                      existing mdevs (symlinks into their parent)
 *   <uuid>/mdev_type, <uuid>/iommu_group              symlinks naming the type and the VFIO group
 * plus mdevctl's persistent definitions, and explanations for GPUs that could have vGPUs but
 * don't (GVT-g on too-new Intel parts, NVIDIA's vendor-specific VFIO). Never throws for a
 * missing or unreadable file: what could not be read is in `problems` / `notes`.
 */
import path from 'node:path';
import type { RunCommand } from '../host/host-io.js';
import type { VmDefinition } from '../common/vm-types.js';
import { displayKindOf, parseDescription, summarizeDetails, vendorOf } from './describe.js';
import { listMdevctlDefinitions } from './mdevctl.js';
import { createPciNames, type PciNames } from './pci-ids.js';
import { exists, linkBasename, listDir, readAttr, under, type MdevFs, type MdevRoots } from './sysfs-io.js';
import type { MdevDevice, MdevInventory, MdevNote, MdevParent, MdevType, MdevVendor } from '../common/mdev-types.js';
import { gvtgNote, nvidiaVendorVfioNote, noParentsNote } from './notes.js';

export const PCI_ADDRESS = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
const SAMPLE_DRIVERS = ['mtty', 'mdpy', 'mbochs'];

export interface DiscoverOptions {
  fs: MdevFs;
  roots: Pick<MdevRoots, 'sysfsRoot'>;
  /** The VM definitions, to say which VM uses which device. */
  vms?: readonly Pick<VmDefinition, 'id' | 'name' | 'mdevs'>[];
  /** Runs mdevctl; without it mdevctl is not consulted (reported as not installed). */
  run?: RunCommand;
  pciNames?: PciNames;
}

const hex = (s: string | undefined) => s?.trim().replace(/^0x/i, '').toLowerCase();

async function readType(
  fs: MdevFs,
  typesDir: string,
  id: string,
  parent: string,
  family: MdevVendor,
): Promise<MdevType> {
  const dir = path.join(typesDir, id);
  const problems: string[] = [];
  const name = await readAttr(fs, path.join(dir, 'name'), problems, 'name');
  const description = await readAttr(fs, path.join(dir, 'description'), [], 'description'); // optional (mtty has none)
  const deviceApi = await readAttr(fs, path.join(dir, 'device_api'), problems, 'device_api');
  const availText = await readAttr(fs, path.join(dir, 'available_instances'), problems, 'available_instances');
  let availableInstances: number | undefined;
  if (availText !== undefined) {
    if (/^\s*\d+\s*$/.test(availText)) availableInstances = Number(availText);
    else problems.push(`available_instances is not a number ("${availText.slice(0, 40)}")`);
  }
  const canCreate = await exists(fs, path.join(dir, 'create'));
  if (!canCreate) problems.push('there is no create file, so no device of this type can be created');
  const vendor = vendorOf(id) === 'other' ? family : vendorOf(id);
  return {
    id,
    parent,
    ...(name !== undefined ? { name } : {}),
    ...(description !== undefined ? { description: description.trimEnd() } : {}),
    ...describeType(vendor, description),
    ...(deviceApi !== undefined ? { deviceApi } : {}),
    ...(availableInstances !== undefined ? { availableInstances } : {}),
    canCreate,
    instances: ((await listDir(fs, path.join(dir, 'devices'))) ?? []).map((u) => u.toLowerCase()),
    display: displayKindOf(vendor),
    problems,
  };
}

function describeType(vendor: MdevVendor, description: string | undefined): Pick<MdevType, 'details' | 'summary'> {
  const details = parseDescription(vendor, description);
  return { details, summary: summarizeDetails(details) };
}

async function readParent(fs: MdevFs, sys: string, name: string, pciNames: PciNames): Promise<MdevParent> {
  const dir = path.join(sys, 'class/mdev_bus', name);
  const problems: string[] = [];
  let driver = await linkBasename(fs, path.join(dir, 'driver'));
  if (!driver && SAMPLE_DRIVERS.includes(name)) driver = name; // virtual sample devices have no driver link
  let pci: MdevParent['pci'];
  if (PCI_ADDRESS.test(name)) {
    const vendorId = hex(await readAttr(fs, path.join(dir, 'vendor'), problems, 'vendor'));
    const deviceId = hex(await readAttr(fs, path.join(dir, 'device'), problems, 'device'));
    if (vendorId && deviceId) pci = { vendorId, deviceId, ...(await pciNames.lookup(vendorId, deviceId)) };
  }
  const typesDir = path.join(dir, 'mdev_supported_types');
  const typeIds = await listDir(fs, typesDir);
  let family = vendorOf(driver ?? name);
  if (family === 'other' && typeIds?.[0]) family = vendorOf(typeIds[0]);
  const types = await Promise.all((typeIds ?? []).map((id) => readType(fs, typesDir, id, name, family)));
  return {
    name,
    ...(driver ? { driver } : {}),
    vendor: family,
    ...(pci ? { pci } : {}),
    hasTypesDir: typeIds !== undefined,
    types,
    problems,
  };
}

async function readDevice(fs: MdevFs, sys: string, uuid: string, vms: DiscoverOptions['vms']): Promise<MdevDevice> {
  const dir = path.join(sys, 'bus/mdev/devices', uuid);
  const problems: string[] = [];
  const type = await linkBasename(fs, path.join(dir, 'mdev_type'));
  if (!type) problems.push('mdev_type cannot be read');
  // The bus entry links to <parent device>/<uuid>; the parent is the directory above.
  let parent: string | undefined;
  try {
    parent = path.basename(path.dirname(await fs.readLink(dir)));
  } catch {
    problems.push('the device link cannot be read, so its parent is unknown');
  }
  const iommuGroup = await linkBasename(fs, path.join(dir, 'iommu_group'));
  if (!iommuGroup) problems.push('iommu_group cannot be read');
  const id = uuid.toLowerCase();
  const usedBy = (vms ?? [])
    .filter((vm) => vm.mdevs?.some((m) => m.uuid.toLowerCase() === id))
    .map((vm) => ({ id: vm.id, name: vm.name }));
  return {
    uuid: id,
    ...(type ? { type } : {}),
    ...(parent ? { parent } : {}),
    ...(iommuGroup ? { iommuGroup } : {}),
    usedBy,
    problems,
  };
}

/** Display controllers (PCI class 0x03xxxx) that are not mdev parents, for the explanations. */
async function gpusWithoutMdev(
  fs: MdevFs,
  sys: string,
  parents: Set<string>,
): Promise<{ address: string; driver?: string; vendorId?: string; deviceId?: string; dir: string }[]> {
  const pciDir = path.join(sys, 'bus/pci/devices');
  const out = [];
  for (const address of (await listDir(fs, pciDir)) ?? []) {
    if (parents.has(address)) continue;
    const dir = path.join(pciDir, address);
    if (await exists(fs, path.join(dir, 'physfn'))) continue; // an SR-IOV VF: its PF speaks for it
    const cls = hex(await readAttr(fs, path.join(dir, 'class'), [], 'class'));
    if (!cls?.startsWith('03')) continue;
    const driver = await linkBasename(fs, path.join(dir, 'driver'));
    const vendorId = hex(await readAttr(fs, path.join(dir, 'vendor'), [], 'vendor'));
    const deviceId = hex(await readAttr(fs, path.join(dir, 'device'), [], 'device'));
    out.push({
      address,
      dir,
      ...(driver ? { driver } : {}),
      ...(vendorId ? { vendorId } : {}),
      ...(deviceId ? { deviceId } : {}),
    });
  }
  return out;
}

async function explain(fs: MdevFs, sys: string, parents: MdevParent[], pciNames: PciNames): Promise<MdevNote[]> {
  const notes: MdevNote[] = [];
  const gvtParam = (await readAttr(fs, path.join(sys, 'module/i915/parameters/enable_gvt'), [], 'enable_gvt'))?.trim();
  for (const p of parents) {
    if (p.vendor === 'intel-gvtg' && p.types.length === 0)
      notes.push(gvtgNote({ address: p.name, pci: p.pci, enableGvt: gvtParam, isParent: true }));
    if (p.vendor === 'nvidia' && p.types.length === 0) notes.push(nvidiaVendorVfioNote(p.name, p.pci));
  }
  for (const gpu of await gpusWithoutMdev(fs, sys, new Set(parents.map((p) => p.name)))) {
    const pci =
      gpu.vendorId && gpu.deviceId
        ? { vendorId: gpu.vendorId, deviceId: gpu.deviceId, ...(await pciNames.lookup(gpu.vendorId, gpu.deviceId)) }
        : undefined;
    if (gpu.vendorId === '8086' && (gpu.driver === 'i915' || gpu.driver === 'xe')) {
      notes.push(gvtgNote({ address: gpu.address, pci, enableGvt: gvtParam, driver: gpu.driver, isParent: false }));
    }
    if (gpu.driver === 'nvidia') {
      const vendorVfio =
        (await exists(fs, path.join(gpu.dir, 'nvidia/creatable_vgpu_types'))) ||
        (await exists(fs, path.join(gpu.dir, 'virtfn0/nvidia/creatable_vgpu_types')));
      if (vendorVfio) notes.push(nvidiaVendorVfioNote(gpu.address, pci));
    }
  }
  return notes;
}

export async function discoverMdev(o: DiscoverOptions): Promise<MdevInventory> {
  const sys = under(o.roots.sysfsRoot, '/sys');
  const pciNames = o.pciNames ?? createPciNames(o.fs);
  const parentNames = (await listDir(o.fs, path.join(sys, 'class/mdev_bus'))) ?? [];
  const parents = await Promise.all(parentNames.map((n) => readParent(o.fs, sys, n, pciNames)));
  const uuids = (await listDir(o.fs, path.join(sys, 'bus/mdev/devices'))) ?? [];
  const devices = await Promise.all(uuids.map((u) => readDevice(o.fs, sys, u, o.vms)));
  const notes = await explain(o.fs, sys, parents, pciNames);
  if (parents.length === 0 && notes.length === 0) notes.push(noParentsNote());

  let mdevctl: MdevInventory['mdevctl'] = { installed: false, definitions: [] };
  if (o.run) {
    const list = await listMdevctlDefinitions(o.run);
    if (list.installed) {
      const active = new Set(devices.map((d) => d.uuid));
      mdevctl = {
        installed: true,
        definitions: list.definitions.map((d) => ({ ...d, active: active.has(d.uuid) })),
        ...(list.error ? { error: list.error } : {}),
      };
      if (list.error)
        notes.push({ id: 'mdevctl-failed', text: `${list.error}. Persistent definitions are not shown.` });
    }
  }
  return { parents, devices, mdevctl, notes };
}

/** The type `typeId` of `parent`, if the inventory has it. */
export function findType(inv: MdevInventory, parent: string, typeId: string): MdevType | undefined {
  return inv.parents.find((p) => p.name === parent)?.types.find((t) => t.id === typeId);
}
