/** What the numbers were measured on: printed above the table and stored in the JSON. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

export interface Machine {
  cpu: string;
  cores: number;
  ramGiB: number;
  kernel: string;
  qemu: string;
  node: string;
  libvirt: string;
}

function firstLine(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 })
      .split('\n')[0]
      ?.trim();
  } catch {
    return undefined;
  }
}

/** An executable on PATH, found without running anything (`which` is not everywhere). */
export function onPath(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    const p = `${dir}/${program}`;
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

export function describeMachine(qemuBinary: string): Machine {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch {
    /* not Linux: os.cpus() is good enough */
  }
  const virsh = onPath('virsh');
  return {
    cpu,
    cores: os.availableParallelism?.() ?? os.cpus().length,
    ramGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    qemu: firstLine(qemuBinary, ['--version']) ?? 'unknown',
    node: process.version,
    libvirt: virsh ? `virsh ${firstLine(virsh, ['--version']) ?? '?'}` : 'not installed',
  };
}

export function formatMachine(m: Machine): string {
  return [
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB RAM`,
    `Kernel: ${m.kernel} · QEMU: ${m.qemu} · Node: ${m.node} · libvirt: ${m.libvirt}`,
  ].join('\n');
}
