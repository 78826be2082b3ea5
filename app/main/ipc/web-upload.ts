/**
 * `PUT /upload` of `vmdesk web`: an ISO from the browser's machine into the ISO library, with
 * the same token and Origin checks as the WebSockets.
 *
 * Invariants (each one closes a way uploads used to go wrong):
 * - One upload per name at a time. The name is taken synchronously, before the first await, so of
 *   N requests for one name exactly one proceeds and the others get 409 at once.
 * - The body goes into a temp file this upload created itself: a random hidden name opened with
 *   O_CREAT|O_EXCL|O_NOFOLLOW (0600), so nothing planted in the library (a symlink at a guessable
 *   name) is ever written through.
 * - "The same file" means the same content: SHA-256, computed while streaming and compared with a
 *   regular library file of the same size. A different file whose name is taken is stored as
 *   "name (2).iso", "name (3).iso"..., never answered with the old bytes. Anything at a name that
 *   is not a regular file (symlink, directory) is skipped, never reused.
 * - The finished file is put in place with link(2), which never replaces anything (EEXIST: next
 *   name), not rename(2), which would.
 * - Nothing half-written stays: the temp file is removed on every path, a stored file that fails
 *   inspection is deleted again, and temp files left by a killed server are swept after an hour
 *   (never one this process is still writing, however old its mtime).
 * - Only what is ours is trusted: the library folder must be ours and writable by no one else
 *   (its write bits for others are taken away), and a file is reused only if it is a regular
 *   file of ours with no other name (a hard link elsewhere could change it behind our back).
 * - Every failure is answered in a sentence and logged: a full disk (507), a read-only or
 *   foreign folder (500) name the folder (storageError), never a reset connection.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { isUserError, serializeError, VmdeskError } from '../common/errors.js';
import type { IsoPlan } from '../common/iso-types.js';
import { WEB_PATHS } from '../common/api.js';
import { mkdirsAsync, storageError } from '../paths/storage-errors.js';
import { checkUpgrade, uploadFileName } from './web-auth.js';

export const UPLOAD_PATH = WEB_PATHS.upload;
/** No installer image comes near this (the largest DVDs are ~20 GiB); bigger is refused with 413. */
export const MAX_UPLOAD_BYTES = 2 ** 40;
/** An upload that sends nothing for this long is dropped (and its temp file removed). */
const UPLOAD_IDLE_MS = 60_000;
/**
 * A temp file untouched for this long belongs to no live upload (a live one writes at least every
 * UPLOAD_IDLE_MS or is dropped): it was left by a server that was killed, and is removed.
 */
const STALE_TEMP_MS = 3_600_000;
/** `.NAME.<16 hex>.part`: our temp files, and the only files the sweep ever removes. */
const TEMP_FILE = /^\..+\.[0-9a-f]{16}\.part$/;
/** Digests of library files kept in memory (the library holds a few dozen images). */
const MAX_CACHED_DIGESTS = 256;
const HASH_CHUNK_BYTES = 1024 * 1024;
const WRITE_BATCH_BYTES = 1024 * 1024;

const { O_CREAT, O_EXCL, O_WRONLY, O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

/**
 * Temp files this process is writing or about to place: the sweep never removes them. Their mtime
 * says nothing about liveness (a slow upload writes only every WRITE_BATCH_BYTES, and one waits
 * while library files are hashed). Process-wide: two servers in one process share a library.
 */
const liveTemps = new Set<string>();
const myUid = (): number => process.getuid?.() ?? 0;

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

const errnoOf = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;
const messageOf = (err: unknown): string => serializeError(err).message.slice(0, 500);
const octal = (mode: number): string => '0' + (mode & 0o7777).toString(8).padStart(3, '0');

/** A write of the body to its temp file failed: the library's disk, not the request, is at fault. */
class TempWriteError extends Error {
  constructor(readonly error: unknown) {
    super(messageOf(error), { cause: error });
  }
}

/** `name`, then "stem (2).ext", "stem (3).ext"... */
function candidateName(name: string, n: number): string {
  if (n === 1) return name;
  const ext = path.extname(name);
  return `${name.slice(0, name.length - ext.length)} (${n})${ext}`;
}

/** Creates a temp file for `name` that did not exist before (never a symlink someone planted). */
async function createTempFile(dir: string, name: string): Promise<{ file: string; handle: fs.promises.FileHandle }> {
  for (let attempt = 1; ; attempt++) {
    const file = path.join(dir, `.${name}.${crypto.randomBytes(8).toString('hex')}.part`);
    try {
      return { file, handle: await fs.promises.open(file, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, 0o600) };
    } catch (err) {
      // 64 random bits: EEXIST means someone is creating names on purpose; a few tries, then give up.
      if (errnoOf(err) !== 'EEXIST' || attempt === 3) throw err;
    }
  }
}

/**
 * Removes temp files of uploads that can no longer be running: not this process's (liveTemps),
 * and untouched for STALE_TEMP_MS (another process's live upload writes more often). Best effort:
 * a failure is logged, and the upload goes on.
 */
async function sweepStaleTemps(dir: string, log: (line: string) => void): Promise<void> {
  const names = await fs.promises.readdir(dir).catch(() => [] as string[]);
  const now = Date.now();
  for (const name of names.filter((n) => TEMP_FILE.test(n))) {
    const file = path.join(dir, name);
    if (liveTemps.has(file)) continue;
    const st = await fs.promises.lstat(file).catch(() => undefined);
    // unlink removes a symlink itself, never its target.
    if (st && now - st.mtimeMs > STALE_TEMP_MS)
      await fs.promises.unlink(file).catch((err: unknown) => log(`could not remove ${file}: ${messageOf(err)}`));
  }
}

/**
 * Creates the library (0700), or checks the one there: a folder of ours that no one else may
 * write. Others with write access could rename their own file over an image after it was stored
 * and inspected, or remove a live upload's temp file. Their write bits are taken away (and
 * logged) rather than the upload refused: vmdesk itself makes the folder 0700, so such bits come
 * from a folder made by hand, usually under a umask of 002 (the default on Debian and Ubuntu),
 * not from a wish to share it for writing; read access, which is harmless, is left alone.
 */
async function prepareLibrary(dir: string, log: (line: string) => void): Promise<void> {
  try {
    await mkdirsAsync(dir);
  } catch (err) {
    // Something that is not a folder in the way: the checks below say so.
    if (errnoOf(err) !== 'ENOTDIR') throw err;
  }
  const st = await fs.promises.stat(dir);
  if (!st.isDirectory())
    throw new VmdeskError(
      'storage',
      `The ISO library ${dir} is not a folder. Move it out of the way (vmdesk then creates the folder), and try again.`,
    );
  if (st.uid !== myUid())
    throw new VmdeskError(
      'storage',
      `The ISO library ${dir} belongs to another user (uid ${st.uid}), so vmdesk does not store uploads in it. Give it back to yourself (chown) or move it out of the way, and try again.`,
    );
  if ((st.mode & 0o022) !== 0) {
    const mode = st.mode & 0o7755;
    await fs.promises.chmod(dir, mode);
    log(
      `the ISO library ${dir} was writable by other users (mode ${octal(st.mode)}); made it ${octal(mode)}, so no one else can replace an uploaded image`,
    );
  }
}

/**
 * SHA-256 of library files, so a re-upload compares contents without reading the stored image
 * again each time (measured: ~1 s per GiB). Keyed by device, inode, size, mtime and ctime: any
 * write changes the ctime, which no one can set back (only a write within the same tick of the
 * kernel's coarse clock as the cached state would go unseen).
 */
class DigestCache {
  private readonly digests = new Map<string, string>();
  private static key(st: fs.BigIntStats): string {
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  }
  get(st: fs.BigIntStats): string | undefined {
    return this.digests.get(DigestCache.key(st));
  }
  set(st: fs.BigIntStats, digest: string): void {
    if (this.digests.size >= MAX_CACHED_DIGESTS) this.digests.delete(this.digests.keys().next().value!);
    this.digests.set(DigestCache.key(st), digest);
  }
}

/**
 * Whether a library file may stand for an upload of the same content: a regular file of ours
 * with no other name. Another user's file could change or vanish at their will; a file with a
 * second name (a hard link, maybe outside the library) can be rewritten through that name.
 */
const reusable = (st: fs.BigIntStats): boolean => st.isFile() && st.uid === BigInt(myUid()) && st.nlink === 1n;

/**
 * The SHA-256 of the reusable file `file` that `seen` (its lstat) describes, or undefined when
 * what is there now is something else (swapped meanwhile). Opened without following symlinks and
 * without blocking (a FIFO swapped in would otherwise hang the open).
 */
async function digestOfLibraryFile(
  file: string,
  seen: fs.BigIntStats,
  cache: DigestCache,
): Promise<string | undefined> {
  const handle = await fs.promises.open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK).catch(() => undefined);
  if (!handle) return undefined;
  try {
    const st = await handle.stat({ bigint: true });
    if (!reusable(st) || st.ino !== seen.ino || st.dev !== seen.dev) return undefined;
    const cached = cache.get(st);
    if (cached) return cached;
    const hash = crypto.createHash('sha256');
    const buf = Buffer.allocUnsafe(HASH_CHUNK_BYTES);
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
    const digest = hash.digest('hex');
    cache.set(st, digest);
    return digest;
  } finally {
    await handle.close();
  }
}

/**
 * Puts the complete temp file `temp` (`size` bytes, SHA-256 `digest`) into the library as
 * `name`: reuses a file there with the same content (one of ours: see reusable), or links it
 * under the first free name of `name`, "name (2).iso"... Never replaces, follows or reuses
 * anything else.
 */
async function placeInLibrary(
  dir: string,
  name: string,
  temp: string,
  upload: { size: number; digest: string },
  cache: DigestCache,
): Promise<{ file: string; reused: boolean }> {
  for (let n = 1; ; n++) {
    const file = path.join(dir, candidateName(name, n));
    let st: fs.BigIntStats | undefined;
    try {
      st = await fs.promises.lstat(file, { bigint: true });
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
    }
    if (st === undefined) {
      if (await linkExclusive(temp, file)) {
        // Removing the temp name changes the file's ctime: the digest is cached under the state after.
        await fs.promises.rm(temp, { force: true });
        cache.set(await fs.promises.lstat(file, { bigint: true }), upload.digest);
        return { file, reused: false };
      }
      continue; // taken meanwhile
    }
    if (
      reusable(st) &&
      st.size === BigInt(upload.size) &&
      (await digestOfLibraryFile(file, st, cache)) === upload.digest
    )
      return { file, reused: true };
  }
}

/** Gives `temp` the name `file` unless that exists; false when it does. */
async function linkExclusive(temp: string, file: string): Promise<boolean> {
  try {
    await fs.promises.link(temp, file);
    return true;
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'EEXIST') return false;
    // A file system without hard links (some FUSE and network ones): copy instead; COPYFILE_EXCL
    // creates the target with O_EXCL, which fails on anything already there, symlinks included.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
  }
  try {
    await fs.promises.copyFile(temp, file, fs.constants.COPYFILE_EXCL);
    return true;
  } catch (err) {
    // Nothing to remove: a target the copy created itself libuv removes when the copy fails
    // (uv__fs_copyfile), and one it did not create (it failed first) belongs to someone else.
    if (errnoOf(err) === 'EEXIST') return false;
    throw err;
  }
}

export interface UploadDeps {
  /** The ISO library (a function: asked at each upload, as the isoFolder setting may change);
   * without it the server takes no uploads (404). */
  dir?: string | (() => Promise<string>);
  token: string;
  origins(): readonly string[];
  closing(): boolean;
  log(line: string): void;
  inspect(file: string): Promise<IsoPlan>;
}

export function createUploadHandler(deps: UploadDeps): (req: http.IncomingMessage) => Promise<UploadReply> {
  const { token, log } = deps;
  /** Names with an upload under way, from the moment it is admitted until it has answered. */
  const uploading = new Set<string>();
  const digests = new DigestCache();
  /**
   * `PUT /upload?token=T&name=N`, the file as the body (Content-Length required). Streams into a
   * fresh temp file in the library, hashing as it goes, then keeps an existing file with the same
   * content or links the new one in under a free name (see the invariants above). The stored file
   * is then inspected (iso.inspect) and deleted again if it is not an installer image, so nothing
   * unusable stays in the library. Replies `{path, plan}`, or `{error: {code, message}}` with
   * 400/401/403/404/409/411/413/422/500/507; never rejects.
   */
  return async function serveUpload(req: http.IncomingMessage): Promise<UploadReply> {
    const url = new URL(req.url ?? '/', 'http://request.invalid');
    if (!deps.dir) return uploadError(404, 'unsupported', 'This server does not take uploads.');
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
    // Asked only of a caller with the token (the isoFolder setting, through the driver).
    let dir: string;
    try {
      dir = typeof deps.dir === 'function' ? await deps.dir() : deps.dir;
    } catch (err) {
      return uploadError(
        503,
        'cancelled',
        `vmdesk cannot tell where the ISO library is now (${(err as Error).message}); nothing was stored. Try again.`,
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
    // Checked and taken with no await in between: this is what makes the lock a lock.
    if (uploading.has(name))
      return uploadError(
        409,
        'invalid-state',
        `"${name}" is being uploaded already (from this or another browser tab). Wait for it to finish, then drop the file again if you still need it: the same file is not stored twice.`,
      );
    uploading.add(name);
    try {
      return await receive(req, dir, name, size);
    } catch (err) {
      // receive answers its own failures; this is the net that keeps a bug from resetting the connection.
      return notStored(err, dir, name, path.join(dir, name));
    } finally {
      uploading.delete(name);
    }
  };

  /**
   * The reply to a failure of the library's folder or disk while writing `target` (logged): a
   * full disk or quota is 507, a read-only or refused folder 500, both in storageError's
   * sentence naming the folder; anything else 500 naming the library.
   */
  function notStored(err: unknown, dir: string, name: string, target: string): UploadReply {
    const e = storageError(err, target);
    const message = messageOf(e);
    log(`upload ${name} not stored: ${message}`);
    if (!(e instanceof VmdeskError) || e.code !== 'storage')
      return uploadError(
        500,
        'internal',
        `"${name}" could not be stored in ${dir} (${message}); nothing was kept. Check that this folder is writable, then try again.`,
      );
    const errno = e.details?.errno;
    return uploadError(
      errno === 'ENOSPC' || errno === 'EDQUOT' ? 507 : 500,
      'storage',
      `"${name}" was not stored: ${message}`,
    );
  }

  async function receive(req: http.IncomingMessage, dir: string, name: string, size: number): Promise<UploadReply> {
    // What storageError names for a write in the library: the library itself (or the nearest
    // folder that exists, or vmdesk's data folder holding it).
    const target = path.join(dir, name);
    try {
      await prepareLibrary(dir, log);
    } catch (err) {
      return notStored(err, dir, name, dir);
    }
    await sweepStaleTemps(dir, log);
    let free: number;
    try {
      free = await freeBytes(dir);
    } catch (err) {
      return notStored(err, dir, name, target);
    }
    if (size > free) {
      log(`upload ${name} refused: ${size} bytes, ${free} free in ${dir}`);
      return uploadError(
        507,
        'insufficient-resources',
        `"${name}" needs ${formatBytes(size)}, but only ${formatBytes(free)} is free in ${dir}. Free some space and try again.`,
      );
    }
    let temp: { file: string; handle: fs.promises.FileHandle };
    try {
      temp = await createTempFile(dir, name);
    } catch (err) {
      return notStored(err, dir, name, target);
    }
    liveTemps.add(temp.file);
    try {
      let digest: string;
      try {
        digest = await streamInto(req, temp.handle, size);
      } catch (err) {
        if (err instanceof TempWriteError) return notStored(err.error, dir, name, target);
        log(`upload ${name} failed: ${messageOf(err)}`);
        return uploadError(400, 'cancelled', 'The upload did not complete; nothing was kept. Try again.');
      } finally {
        await temp.handle.close().catch(() => {});
      }
      let placed: { file: string; reused: boolean };
      try {
        placed = await placeInLibrary(dir, name, temp.file, { size, digest }, digests);
      } catch (err) {
        return notStored(err, dir, name, target);
      }
      log(`upload ${name}: ${size} bytes → ${placed.file}${placed.reused ? ' (same content: reused)' : ''}`);
      return await inspectUpload(name, placed.file, !placed.reused);
    } finally {
      await fs.promises
        .rm(temp.file, { force: true })
        .catch((err: unknown) => log(`could not remove ${temp.file}: ${messageOf(err)}`));
      liveTemps.delete(temp.file);
    }
  }

  /**
   * Writes the body to `handle` (synced to disk) and returns its SHA-256; throws if it ends short,
   * and a TempWriteError if the disk refused a write. After such a refusal the rest of the body is
   * still read (and dropped): closing a connection with unread data makes the kernel reset it, and
   * the browser would see the reset instead of the reply saying the disk is full.
   */
  async function streamInto(req: http.IncomingMessage, handle: fs.promises.FileHandle, size: number): Promise<string> {
    const hash = crypto.createHash('sha256');
    let received = 0;
    let writeError: TempWriteError | undefined;
    const onIdle = () => req.destroy(new Error(`nothing received for ${UPLOAD_IDLE_MS / 1000} s`));
    // Kept: once the request is destroyed (the client went away), req.socket is null.
    const socket = req.socket;
    socket.setTimeout(UPLOAD_IDLE_MS);
    socket.on('timeout', onIdle);
    try {
      // Written in batches of WRITE_BATCH_BYTES (a write per 64 KiB chunk made a 1 GiB upload ~1.5x
      // slower); nothing more is read while a batch is written, so the socket is paused meanwhile.
      // A FileHandle write stream is not used: it keeps a reference, so close() never settles.
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const flush = async () => {
        const data = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        try {
          for (let at = 0; at < data.length;) at += (await handle.write(data, at)).bytesWritten;
        } catch (err) {
          writeError = new TempWriteError(err);
          // Gives back what was written, so other uploads need not wait for this body to end.
          await handle.truncate(0).catch(() => {});
        }
      };
      for await (const chunk of req as AsyncIterable<Buffer>) {
        received += chunk.length;
        if (writeError) continue;
        hash.update(chunk);
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= WRITE_BATCH_BYTES) await flush();
      }
      if (!writeError && pendingBytes > 0) await flush();
    } finally {
      // Off before hashing a library file, which may take longer than the idle limit.
      socket.setTimeout(0);
      socket.off('timeout', onIdle);
    }
    if (writeError) throw writeError;
    if (received !== size)
      throw new VmdeskError('invalid-argument', `The upload ended after ${received} of ${size} bytes.`);
    // Linked under its final name next: the bytes must be on disk before the name is. (A network
    // file system may report a full disk only here.)
    await handle.datasync().catch((err: unknown) => {
      throw new TempWriteError(err);
    });
    return hash.digest('hex');
  }

  async function inspectUpload(name: string, file: string, created: boolean): Promise<UploadReply> {
    try {
      const plan = await deps.inspect(file);
      return { status: 200, body: { path: file, plan } };
    } catch (err) {
      if (created)
        await fs.promises
          .rm(file, { force: true })
          .catch((rmErr: unknown) => log(`could not remove ${file}: ${messageOf(rmErr)}`));
      const e = serializeError(err);
      log(`upload ${name} refused by the inspection: ${e.message.slice(0, 500)}`);
      return { status: isUserError(e.code) ? 422 : 500, body: { error: e } };
    }
  }
}
