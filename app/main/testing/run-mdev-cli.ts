/** `vmdesk mdev ...` in-process, with what it printed. */
import { PassThrough } from 'node:stream';
import { runMdev, type MdevCliDeps } from '../cli/mdev-command.js';

export async function runMdevCli(
  deps: MdevCliDeps,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (d: Buffer) => (o += d.toString()));
  err.on('data', (d: Buffer) => (e += d.toString()));
  const code = await runMdev(args, { out, err }, deps);
  return { code, out: o, err: e };
}
