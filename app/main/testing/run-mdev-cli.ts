/** `vmdesk mdev ...` in-process, with what it printed. */
import { runMdev, type MdevCliDeps } from '../cli/mdev-command.js';
import { captureIo } from './capture-io.js';

export async function runMdevCli(
  deps: MdevCliDeps,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  const c = captureIo();
  const code = await runMdev(args, c.io, deps);
  return { code, out: c.out(), err: c.err() };
}
