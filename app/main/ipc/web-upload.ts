/**
 * `PUT /upload` of `vmdesk web`: an ISO from the browser's machine into the ISO library, with
 * the same token and Origin checks as the WebSockets. Nothing half-written is ever left: the body
 * goes to a hidden .part file renamed only when complete, and a file that fails inspection is
 * deleted again.
 */
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { isUserError, serializeError, VmdeskError } from '../common/errors.js';
import type { IsoPlan } from '../common/iso-types.js';
import { WEB_PATHS } from '../common/api.js';
import { checkUpgrade, uploadFileName } from './web-auth.js';

export const UPLOAD_PATH = WEB_PATHS.upload;
/** No installer image comes near this (the largest DVDs are ~20 GiB); bigger is refused with 413. */
export const MAX_UPLOAD_BYTES = 2 ** 40;
/** An upload that sends nothing for this long is dropped (and its .part file removed). */
const UPLOAD_IDLE_MS = 60_000;

export type UploadReply = { status: number; body: object };
const uploadError = (status: number, code: string, message: string): UploadReply => ({
  status,
  body: { error: { code, message } },
});

function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${n.toFixed(1)} ${units[i]}`;
}

async function freeBytes(dir: string): Promise<number> {
  const st = await fs.promises.statfs(dir);
  return st.bavail * st.bsize;
}

async function sizeOf(file: string): Promise<number | undefined> {
  const st = await fs.promises.stat(file).catch(() => undefined);
  return st?.isFile() ? st.size : undefined;
}

/**
 * Where a finished upload of `name` goes: `name` itself, or a same-size file already there
 * (the same ISO dropped again: reused, not copied twice), or "name (2).iso", "name (3).iso"...
 */
async function libraryTarget(dir: string, name: string, size: number): Promise<{ file: string; reused: boolean }> {
  const ext = path.extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let n = 1; ; n++) {
    const file = path.join(dir, n === 1 ? name : `${stem} (${n})${ext}`);
    const have = await sizeOf(file);
    if (have === undefined) return { file, reused: false };
    if (have === size) return { file, reused: true };
  }
}

export interface UploadDeps {
  /** The ISO library; without it the server takes no uploads (404). */
  dir?: string;
  token: string;
  origins(): readonly string[];
  closing(): boolean;
  log(line: string): void;
  inspect(file: string): Promise<IsoPlan>;
}

export function createUploadHandler(deps: UploadDeps): (req: http.IncomingMessage) => Promise<UploadReply> {
  const { token, log } = deps;
  const uploading = new Set<string>();
  /**
   * `PUT /upload?token=T&name=N`, the file as the body (Content-Length required). Streams into
   * `<uploadDir>/.N.part` (0600) and renames it when complete; an aborted or failed upload
   * deletes its .part file. The stored file is then inspected (iso.inspect) and deleted again if
   * it is not an installer image, so nothing unusable stays in the library. Replies `{path, plan}`,
   * or `{error: {code, message}}` with 400/401/403/404/409/411/413/422/507.
   */
  return async function serveUpload(req: http.IncomingMessage): Promise<UploadReply> {
    const url = new URL(req.url ?? '/', 'http://request.invalid');
    const dir = deps.dir;
    if (!dir) return uploadError(404, 'unsupported', 'This server does not take uploads.');
    if (req.method !== 'PUT') return uploadError(405, 'invalid-argument', 'Upload with PUT.');
    if (deps.closing()) return uploadError(503, 'cancelled', 'vmdesk web is shutting down.');
    const verdict = checkUpgrade(req.headers.origin, url.searchParams.get('token'), token, deps.origins());
    if (!verdict.ok) {
      log(`refused ${UPLOAD_PATH}: ${verdict.status} (${verdict.why})`);
      return uploadError(
        verdict.status,
        'invalid-argument',
        verdict.status === 401
          ? 'The access token is wrong or missing. Open the link vmdesk web printed.'
          : 'Uploads are accepted only from the vmdesk page itself.',
      );
    }
    const length = req.headers['content-length'];
    if (length === undefined || !/^\d+$/.test(length))
      return uploadError(411, 'invalid-argument', 'An upload needs a Content-Length header.');
    const size = Number(length);
    if (size > MAX_UPLOAD_BYTES)
      return uploadError(
        413,
        'insufficient-resources',
        `This file (${formatBytes(size)}) is larger than any installer image vmdesk takes (${formatBytes(MAX_UPLOAD_BYTES)}).`,
      );
    let name: string;
    try {
      name = uploadFileName(url.searchParams.get('name'));
    } catch (err) {
      return uploadError(400, 'invalid-argument', serializeError(err).message);
    }
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
    const early = await libraryTarget(dir, name, size);
    if (early.reused) {
      log(`upload ${name}: reusing ${early.file}`);
      return inspectUpload(early.file, false);
    }
    if (uploading.has(name))
      return uploadError(409, 'invalid-state', `"${name}" is being uploaded already. Wait for that upload to finish.`);
    const free = await freeBytes(dir);
    if (size > free) {
      return uploadError(
        507,
        'insufficient-resources',
        `"${name}" needs ${formatBytes(size)}, but only ${formatBytes(free)} is free in ${dir}. Free some space and try again.`,
      );
    }
    uploading.add(name);
    const onIdle = () => req.destroy(new Error(`nothing received for ${UPLOAD_IDLE_MS / 1000} s`));
    const part = path.join(dir, `.${name}.part`);
    let target: { file: string; reused: boolean };
    try {
      req.socket.setTimeout(UPLOAD_IDLE_MS);
      req.socket.on('timeout', onIdle);
      await pipeline(req, fs.createWriteStream(part, { mode: 0o600 }));
      const got = await sizeOf(part);
      if (got !== size)
        throw new VmdeskError('invalid-argument', `The upload ended after ${got ?? 0} of ${size} bytes.`);
      target = await libraryTarget(dir, name, size);
      if (target.reused) await fs.promises.rm(part, { force: true });
      else await fs.promises.rename(part, target.file);
    } catch (err) {
      await fs.promises.rm(part, { force: true });
      log(`upload ${name} failed: ${serializeError(err).message.slice(0, 500)}`);
      return uploadError(400, 'cancelled', 'The upload did not complete; nothing was kept. Try again.');
    } finally {
      req.socket.setTimeout(0);
      req.socket.off('timeout', onIdle);
      uploading.delete(name);
    }
    log(`upload ${name}: ${size} bytes → ${target.file}`);
    return inspectUpload(target.file, !target.reused);
  };

  async function inspectUpload(file: string, created: boolean): Promise<UploadReply> {
    try {
      const plan = await deps.inspect(file);
      return { status: 200, body: { path: file, plan } };
    } catch (err) {
      if (created) await fs.promises.rm(file, { force: true });
      const e = serializeError(err);
      return { status: isUserError(e.code) ? 422 : 500, body: { error: e } };
    }
  }
}
