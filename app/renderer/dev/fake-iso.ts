/** Plausible iso.inspect results for the demo fake (`#demo`), chosen by the file name. */
import { VmdeskError } from '../../main/common/errors.js';
import { sameVmName } from '../../main/common/names.js';
import type { IsoPlan } from '../store/store.js';

type IsoInfo = IsoPlan['info'];
type OsMatch = IsoPlan['os'];
import type { UploadHandle, UploadProgress } from '../api/file-intake.js';

/** The guest settings the driver proposes for Windows 11 (iso-plan.ts guestDefaults) and for others. */
const WINDOWS_GUEST = {
  secureBoot: true,
  tpm: true,
  diskBus: 'sata',
  nic: 'e1000e',
  clock: 'localtime',
  hyperv: true,
  drivers: null,
} as const;
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
    const m = os({
      id: 'http://microsoft.com/win/11',
      name: 'Microsoft Windows 11',
      version: '11',
      family: 'windows',
      distro: 'win',
      vendor: 'Microsoft Corporation',
      recommended: { memoryMiB: 4096, diskGiB: 64, cpus: 2 },
      minimum: { memoryMiB: 4096, diskGiB: 64, cpus: 2 },
      firmware: 'uefi',
      virtio: false,
      tpm: true,
    });
    return {
      info: {
        ...info(path, sizeBytes, 'CCCOMA_X64FRE_EN-US_DV9', { bios: true, uefi: true }),
        format: 'iso9660+udf',
        udf: true,
      },
      os: m,
      defaults: {
        name: uniqueName('windows-11', taken),
        arch: 'x86_64',
        memoryMiB: 4096,
        cpus: 2,
        diskGiB: 64,
        firmware: 'uefi',
        ...WINDOWS_GUEST,
      },
      warnings: [
        'Windows 11 requires a TPM 2.0, which vmdesk does not provide yet: the installer stops with "This PC can\'t run Windows 11" unless its checks are bypassed.',
      ],
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
