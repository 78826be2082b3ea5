/** Formatting for people: sizes, durations, times. */

export function formatMiB(mib: number): string {
  if (mib >= 1024 && mib % 1024 === 0) return `${mib / 1024} GiB`;
  if (mib >= 1024) return `${(mib / 1024).toFixed(1)} GiB`;
  return `${mib} MiB`;
}

export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} bytes` : `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}

/** "3 h 12 min", "25 min", "40 s". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} days`;
}

export function formatDateTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/**
 * A disk's size for the Overview: "1.2 GiB used of 20 GiB" when the space its file takes on the
 * host is known, else the size the guest sees; `allocated` absent: the file cannot be read.
 */
export function diskSizeText(allocated: number | undefined, used?: number): string {
  if (allocated === undefined) return 'Size unknown (the file cannot be read)';
  if (used === undefined) return formatBytes(allocated);
  return `${formatBytes(used)} used of ${formatBytes(allocated)}`;
}

/** "2 CPUs, 1 GiB memory". */
export function cpuMemoryText(cpus: number, memoryMiB: number): string {
  return `${cpus} CPU${cpus === 1 ? '' : 's'}, ${formatMiB(memoryMiB)} memory`;
}
