/**
 * Port forwards' host sockets: how the driver names one ("tcp 127.0.0.1:2222") and when two
 * collide. No imports: the renderer loads it and uses the same rules as the driver.
 */

/** Port forwards per VM: enough for every service a desktop guest runs. */
export const MAX_FORWARDS = 64;

/** A forward's host side: protocol, port and (127.0.0.1 unless given) address. */
export type ForwardKey = { proto: 'tcp' | 'udp'; hostPort: number; hostAddr?: string };

/** "tcp 127.0.0.1:2222" */
export function forwardLabel(f: ForwardKey): string {
  return `${f.proto} ${f.hostAddr ?? '127.0.0.1'}:${f.hostPort}`;
}

/**
 * Whether two forwards want the same host socket: same protocol and port, and the same address
 * or either one 0.0.0.0 (which listens on every address, so it takes the port on all of them).
 */
export function forwardsOverlap(a: ForwardKey, b: ForwardKey): boolean {
  const aa = a.hostAddr ?? '127.0.0.1';
  const ba = b.hostAddr ?? '127.0.0.1';
  return a.proto === b.proto && a.hostPort === b.hostPort && (aa === ba || aa === '0.0.0.0' || ba === '0.0.0.0');
}

/** Why one VM's forwards cannot all listen at once (two on one host socket), or undefined. */
export function forwardsProblem(forwards: readonly ForwardKey[]): string | undefined {
  // Pairs are compared: past the count limit (which refuses the list anyway) that is no work to do.
  if (forwards.length > MAX_FORWARDS) return undefined;
  for (let i = 0; i < forwards.length; i++)
    for (let j = 0; j < i; j++)
      if (forwardsOverlap(forwards[i]!, forwards[j]!))
        return `The forwards ${forwardLabel(forwards[j]!)} and ${forwardLabel(forwards[i]!)} want the same host port (0.0.0.0 covers every address). Give each its own host port.`;
  return undefined;
}
