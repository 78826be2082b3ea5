/**
 * Sizes as people write and read them ("1G", "512M" → bytes; MiB → "1.5 GiB"). Pure, so the
 * CLI's client code, the driver and the renderer can share it without loading each other.
 */

/** "1G", "512M", "1.5G", "2048" (MiB), "20GiB" → bytes. Undefined when it is not a size. */
export function parseSize(text: string, defaultUnit: 'M' | 'G' = 'M'): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = (m[2] || defaultUnit).toUpperCase();
  const pow = { K: 1, M: 2, G: 3, T: 4 }[unit as 'K' | 'M' | 'G' | 'T'];
  return Math.round(Number(m[1]) * 1024 ** pow);
}

export function formatMiB(mib: number): string {
  if (mib < 1024) return `${mib} MiB`;
  return mib % 1024 === 0 ? `${mib / 1024} GiB` : `${(mib / 1024).toFixed(1)} GiB`;
}
