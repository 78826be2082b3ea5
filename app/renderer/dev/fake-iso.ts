/** Plausible iso.inspect results for the demo fake (`#demo`), chosen by the file name. */
import { VmdeskError } from '../../main/common/errors.js';
import { sameVmName } from '../../main/common/names.js';
import type { IsoPlan } from '../store/store.js';

type IsoInfo = IsoPlan['info'];
type OsMatch = IsoPlan['os'];
import type { UploadHandle, UploadProgress } from '../api/file-intake.js';

/** Where the demo driver looks for virtio-win.iso (iso-plan.ts driverSearchDirs). */
const DRIVER_SEARCH = ['/usr/share/virtio-win', '/home/ada/.local/share/vmdesk/isos', '/home/ada/Downloads'];
/** The disc the demo finds for Windows 10 (Fedora's virtio-win package puts it there). */
export const DEMO_VIRTIO_WIN = '/usr/share/virtio-win/virtio-win-0.1.262.iso';

/**
 * The guest settings the driver proposes for Windows (iso-plan.ts guestDefaults): Secure Boot,
 * local time, Hyper-V; a TPM for Windows 11; SATA + e1000e, or virtio with a driver disc.
 */
function windowsGuest(tpm: boolean, drivers: string | null) {
  return {
    secureBoot: true,
    tpm,
    diskBus: drivers ? 'virtio' : 'sata',
    nic: drivers ? 'virtio' : 'e1000e',
    clock: 'localtime',
    hyperv: true,
    drivers,
  } as const;
}
const PLAIN_DEFAULTS = {
  secureBoot: false,
  tpm: false,
  diskBus: 'virtio',
  nic: 'virtio',
  clock: 'utc',
  hyperv: false,
  drivers: null,
} as const;

export const DEMO_ISO_DIR = '/home/ada/.local/share/vmdesk/isos';

function info(path: string, sizeBytes: number, volumeId: string, bootable: IsoInfo['bootable']): IsoInfo {
  return {
    path,
    sizeBytes,
    volumeSizeBytes: sizeBytes,
    format: 'iso9660',
    volumeId,
    systemId: '',
    publisher: '',
    dataPreparer: '',
    applicationId: '',
    volumeSetId: '',
    created: '2025-01-11T10:00:00.000Z',
    modified: null,
    joliet: null,
    rockRidge: true,
    udf: false,
    isoLevel: 2,
    hybrid: 'mbr',
    bootable,
    bootEntries: [],
    efiArchs: bootable.uefi ? ['x86_64'] : [],
    efiBootFiles: [],
    windows: null,
    warnings: [],
  };
}

function os(over: Partial<OsMatch>): OsMatch {
  return {
    id: '',
    name: '',
    version: '',
    family: 'linux',
    distro: '',
    vendor: '',
    arch: 'x86_64',
    recommended: { memoryMiB: 2048, diskGiB: 20, cpus: 2 },
    minimum: { memoryMiB: 512, diskGiB: 8, cpus: 1 },
    firmware: 'either',
    virtio: true,
    tpm: false,
    source: 'osinfo-db',
    confidence: 'exact',
    notes: [],
    ...over,
  };
}

function uniqueName(base: string, taken: readonly string[]): string {
  let name = base;
  for (let n = 2; taken.some((t) => sameVmName(t, name)); n++) name = `${base}-${n}`;
  return name;
}

export function fakePlan(path: string, sizeBytes: number, taken: readonly string[]): IsoPlan {
  const file = path.split('/').pop() ?? path;
  if (/win/i.test(file)) {
    // "Win10…": Windows 10, with a virtio-win disc found on this computer; any other: Windows 11
    // without one (the wizard says where it looked).
    const ten = /win(dows)?[-_ ]?10/i.test(file);
    const m = os({
      id: ten ? 'http://microsoft.com/win/10' : 'http://microsoft.com/win/11',
      name: ten ? 'Microsoft Windows 10' : 'Microsoft Windows 11',
      version: ten ? '10.0' : '11.0',
      family: 'windows',
      distro: 'win',
      vendor: 'Microsoft Corporation',
      recommended: ten ? { memoryMiB: 2048, diskGiB: 40, cpus: 2 } : { memoryMiB: 4096, diskGiB: 64, cpus: 2 },
      minimum: ten ? { memoryMiB: 1024, diskGiB: 32, cpus: 1 } : { memoryMiB: 4096, diskGiB: 64, cpus: 2 },
      firmware: ten ? 'either' : 'uefi',
      virtio: false,
      tpm: !ten,
      notes: [
        `The install image is build ${ten ? 19045 : 22631} (Windows ${ten ? 10 : 11} Home, Windows ${ten ? 10 : 11} Pro).`,
      ],
    });
    return {
      info: {
        // Both releases' media carry the same volume id; install.wim tells them apart.
        ...info(path, sizeBytes, 'CCCOMA_X64FRE_EN-US_DV9', { bios: true, uefi: true }),
        format: 'iso9660+udf',
        udf: true,
      },
      os: m,
      defaults: {
        name: uniqueName(ten ? 'Windows 10' : 'Windows 11', taken),
        arch: 'x86_64',
        memoryMiB: ten ? 2048 : 4096,
        cpus: 2,
        diskGiB: ten ? 40 : 64,
        firmware: 'uefi',
        ...windowsGuest(!ten, ten ? DEMO_VIRTIO_WIN : null),
      },
      driverSearch: DRIVER_SEARCH,
      warnings: [],
    };
  }
  if (/debian/i.test(file)) {
    const m = os({
      id: 'http://debian.org/debian/12',
      name: 'Debian 12',
      version: '12',
      distro: 'debian',
      vendor: 'Debian Project',
    });
    return {
      info: info(path, sizeBytes, 'Debian 12.8.0 amd64 n', { bios: true, uefi: true }),
      os: m,
      defaults: {
        name: uniqueName('debian-12', taken),
        arch: 'x86_64',
        memoryMiB: 2048,
        cpus: 2,
        diskGiB: 20,
        firmware: 'uefi',
        ...PLAIN_DEFAULTS,
      },
      warnings: [],
    };
  }
  const volumeId = file
    .replace(/\.(iso|img)$/i, '')
    .toUpperCase()
    .slice(0, 32);
  const m = os({
    name: volumeId,
    family: 'other',
    source: 'generic',
    confidence: 'none',
    firmware: 'bios',
    virtio: false,
    notes: ['Not recognised: using generic settings.'],
  });
  return {
    info: info(path, sizeBytes, volumeId, { bios: true, uefi: false }),
    os: m,
    defaults: {
      name: uniqueName(volumeId, taken),
      arch: 'x86_64',
      memoryMiB: 2048,
      cpus: 2,
      diskGiB: 20,
      firmware: 'bios',
      ...PLAIN_DEFAULTS,
    },
    warnings: [],
  };
}

/** An upload that takes ~2 s (so the progress shows), refusing text files like the inspector. */
export function fakeUpload(file: File, onProgress: (p: UploadProgress) => void, taken: () => string[]): UploadHandle {
  let timer: ReturnType<typeof setInterval> | undefined;
  let reject: (e: Error) => void = () => {};
  const done = new Promise<{ path: string; plan: IsoPlan }>((resolve, rej) => {
    reject = rej;
    let loaded = 0;
    timer = setInterval(() => {
      loaded = Math.min(file.size, loaded + Math.max(1, Math.ceil(file.size / 20)));
      onProgress({ loaded, total: file.size });
      if (loaded < file.size) return;
      clearInterval(timer);
      const path = `${DEMO_ISO_DIR}/${file.name}`;
      void file
        .slice(0, 512)
        .text()
        .then((head) => {
          if (file.size < 32768 && !head.includes('\0'))
            rej(
              new VmdeskError(
                'invalid-argument',
                `${path} is a text file, not an ISO disc image. Pick the installer's .iso file itself.`,
                { field: 'iso', discarded: true },
              ),
            );
          else resolve({ path, plan: fakePlan(path, file.size, taken()) });
        });
    }, 100);
  });
  return {
    done,
    cancel: () => {
      clearInterval(timer);
      reject(new VmdeskError('cancelled', 'The upload was cancelled.'));
    },
  };
}
