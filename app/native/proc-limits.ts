import type { Rlimit, RlimitValue } from './native-host.js';

/** The row of /proc/<pid>/limits that is RLIMIT_MEMLOCK. The file is fixed-width text:
 *   Limit                     Soft Limit           Hard Limit           Units
 *   Max locked memory         8388608              8388608              bytes                                    */
const MEMLOCK_ROW = /^Max locked memory\s+(\S+)\s+(\S+)\s+bytes\s*$/m;

function parseValue(text: string): RlimitValue | undefined {
  if (text === 'unlimited') return 'unlimited';
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : 'unlimited';
}

/** The memlock limit from the text of /proc/self/limits; undefined when the row is absent or odd. */
export function parseProcMemlock(limitsText: string): Rlimit | undefined {
  const m = MEMLOCK_ROW.exec(limitsText);
  if (!m?.[1] || !m[2]) return undefined;
  const soft = parseValue(m[1]);
  const hard = parseValue(m[2]);
  return soft === undefined || hard === undefined ? undefined : { soft, hard };
}
