/**
 * Which program holds a host port, for a message that names it ("in use by python3, pid 4242").
 * Linux only: the socket's inode from /proc/net/{tcp,udp}{,6}, then the process with a file
 * descriptor on that socket. Only processes this user may look into are found (all, as root);
 * anything else, or another OS, answers undefined and the message says less.
 */
import fs from 'node:fs';

export interface PortOwner {
  pid: number;
  /** The process's name (/proc/PID/comm). */
  command: string;
}

/** The socket inodes bound to `port` (TCP: listening only). */
function socketInodes(proto: 'tcp' | 'udp', port: number, procRoot: string): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of [`${procRoot}/net/${proto}`, `${procRoot}/net/${proto}6`]) {
    let text: string;
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !f[1]!.endsWith(`:${hexPort}`)) continue;
      if (proto === 'tcp' && f[3] !== '0A') continue; // 0A: LISTEN
      if (f[9] !== '0') inodes.add(f[9]!);
    }
  }
  return inodes;
}

export function portOwner(proto: 'tcp' | 'udp', port: number, procRoot = '/proc'): PortOwner | undefined {
  if (process.platform !== 'linux' && procRoot === '/proc') return undefined;
  const inodes = socketInodes(proto, port, procRoot);
  if (inodes.size === 0) return undefined;
  const wanted = new Set([...inodes].map((i) => `socket:[${i}]`));
  let pids: string[];
  try {
    pids = fs.readdirSync(procRoot).filter((n) => /^\d+$/.test(n));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`${procRoot}/${pid}/fd`);
    } catch {
      continue; // another user's process, or gone
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = fs.readlinkSync(`${procRoot}/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (!wanted.has(target)) continue;
      let command = '?';
      try {
        command = fs.readFileSync(`${procRoot}/${pid}/comm`, 'utf8').trim();
      } catch {
        // gone meanwhile: the pid still says who it was
      }
      return { pid: Number(pid), command };
    }
  }
  return undefined;
}
