/**
 * What a type is: its vendor family (from the parent's driver or the type id's prefix), how its
 * display reaches the console, and the fields its description carries where the format is known.
 * Pure functions: argv.ts uses them with nothing but a type id.
 */
import type { MdevDisplayKind, MdevTypeDetails, MdevVendor } from '../common/mdev-types.js';

/** Type ids are "<driver>-<name>" (the kernel's mdev_type sysfs naming), so the prefix tells the family. */
export function vendorOf(typeIdOrDriver: string): MdevVendor {
  const s = typeIdOrDriver.toLowerCase();
  if (s === 'i915' || s.startsWith('i915-')) return 'intel-gvtg';
  if (s === 'nvidia' || s.startsWith('nvidia-')) return 'nvidia';
  for (const sample of ['mtty', 'mdpy', 'mbochs'] as const)
    if (s === sample || s.startsWith(`${sample}-`)) return sample;
  return 'other';
}

/**
 * GVT-g and mbochs export the guest framebuffer as a dma-buf, which QEMU can only show through an
 * OpenGL display; mdpy exposes a plain region. NVIDIA vGPUs have no QEMU display at all (their
 * guest driver streams it), mtty is a serial port.
 */
export function displayKindOf(vendor: MdevVendor): MdevDisplayKind {
  if (vendor === 'intel-gvtg' || vendor === 'mbochs') return 'dmabuf';
  if (vendor === 'mdpy') return 'region';
  return 'none';
}

/** For an assignment: its type id alone decides. A known family without a display (NVIDIA, mtty)
 * never gets one, whatever the flag says (QEMU would refuse display=on); a display on an unknown
 * family is treated as dma-buf, which is what every real vGPU with a display uses. */
export function assignmentDisplayKind(typeId: string, display: boolean): MdevDisplayKind {
  if (!display) return 'none';
  const vendor = vendorOf(typeId);
  return vendor === 'other' ? 'dmabuf' : displayKindOf(vendor);
}

const int = (s: string | undefined): number | undefined => {
  if (s === undefined || !/^\d+$/.test(s.trim())) return undefined;
  return Number(s.trim());
};

/** "128MB", "2048M", "1G", "512" (MiB) → MiB. */
function mib(s: string | undefined): number | undefined {
  const m = s?.trim().match(/^(\d+)\s*([MG])?i?B?$/i);
  if (!m) return undefined;
  return Number(m[1]) * (m[2]?.toUpperCase() === 'G' ? 1024 : 1);
}

function resolution(s: string | undefined): string | undefined {
  const m = s?.trim().match(/^(\d+)x(\d+)$/);
  return m ? `${m[1]}x${m[2]}` : undefined;
}

function prune(d: MdevTypeDetails): MdevTypeDetails {
  return Object.fromEntries(Object.entries(d).filter(([, v]) => v !== undefined)) as MdevTypeDetails;
}

/**
 * GVT-g (drivers/gpu/drm/i915/gvt/kvmgt.c): "low_gm_size: 128MB\nhigh_gm_size: 512MB\nfence: 4\n
 * resolution: 1920x1200\nweight: 4". NVIDIA GRID: "num_heads=4, frl_config=60, framebuffer=2048M,
 * max_resolution=4096x2160, max_instance=4". mdpy: "virtual display, 1024x768 framebuffer";
 * mbochs: "virtual display, 16 MB video memory". Anything else: no fields.
 */
export function parseDescription(vendor: MdevVendor, description: string | undefined): MdevTypeDetails {
  if (!description) return {};
  if (vendor === 'intel-gvtg') {
    const kv = new Map(
      description
        .split('\n')
        .map((l) => l.split(':').map((x) => x.trim()) as [string, string?])
        .filter(([, v]) => v !== undefined) as [string, string][],
    );
    return prune({
      lowGmMiB: mib(kv.get('low_gm_size')),
      highGmMiB: mib(kv.get('high_gm_size')),
      fence: int(kv.get('fence')),
      resolution: resolution(kv.get('resolution')),
      weight: int(kv.get('weight')),
    });
  }
  if (vendor === 'nvidia') {
    const kv = new Map(
      description
        .split(/[,\n]/)
        .map((p) => p.split('=').map((x) => x.trim()) as [string, string?])
        .filter(([, v]) => v !== undefined) as [string, string][],
    );
    return prune({
      heads: int(kv.get('num_heads')),
      frameRateLimit: int(kv.get('frl_config')),
      framebufferMiB: mib(kv.get('framebuffer')),
      resolution: resolution(kv.get('max_resolution')),
      maxInstances: int(kv.get('max_instance')),
    });
  }
  if (vendor === 'mdpy') return prune({ resolution: resolution(description.match(/(\d+x\d+)/)?.[1]) });
  if (vendor === 'mbochs') {
    const m = description.match(/(\d+)\s*MB/i);
    return prune({ framebufferMiB: m ? Number(m[1]) : undefined });
  }
  return {};
}

/** One line for tables: "1920x1200, 512 MiB, 4 heads". */
export function summarizeDetails(d: MdevTypeDetails): string {
  const parts: string[] = [];
  if (d.resolution) parts.push(d.resolution);
  if (d.framebufferMiB !== undefined) parts.push(`${d.framebufferMiB} MiB framebuffer`);
  if (d.lowGmMiB !== undefined && d.highGmMiB !== undefined)
    parts.push(`${d.lowGmMiB}+${d.highGmMiB} MiB graphics memory`);
  if (d.heads !== undefined) parts.push(`${d.heads} head${d.heads === 1 ? '' : 's'}`);
  if (d.weight !== undefined) parts.push(`weight ${d.weight}`);
  if (d.frameRateLimit) parts.push(`${d.frameRateLimit} fps cap`);
  return parts.join(', ');
}
