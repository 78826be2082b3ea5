import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { VmdeskError } from '../common/errors.js';
import { FakeLink } from '../shell/testing/fake-link.js';
import { uploadFileName } from './web-auth.js';
import { MAX_UPLOAD_BYTES, startWebServer, type WebServer } from './web-server.js';

const TOKEN = 'right-token-0123456789';
/** The name of an upload's temp file while it is being written: hidden, random, ours alone. */
const PART = /^\..+\.[0-9a-f]{16}\.part$/;

let tmp: string;
let isoDir: string;
let link: FakeLink;
let up: WebServer;
let logLines: string[];

beforeEach(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-upload-'));
  const staticDir = path.join(tmp, 'static');
  fs.mkdirSync(staticDir);
  fs.writeFileSync(path.join(staticDir, 'index.html'), '<!doctype html><title>vmdesk</title>');
  isoDir = path.join(tmp, 'isos');
  link = new FakeLink();
  // The driver's iso.inspect is replaced (it needs osinfo-db and real images): a file starting
  // with "text" is refused as iso.inspect refuses a non-image; anything else is accepted.
  link.answers.set('iso.inspect', (params) => {
    const file = (params as { path: string }).path;
    if (fs.readFileSync(file).subarray(0, 4).toString() === 'text')
      throw new VmdeskError('invalid-argument', `${file} is a text file, not an ISO disc image.`, { field: 'iso' });
    return { info: { path: file } };
  });
  logLines = [];
  up = await startWebServer({ link, staticDir, token: TOKEN, uploadDir: isoDir, log: (l) => logLines.push(l) });
});

afterEach(async () => {
  await up.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

type Reply = {
  status: number;
  connection?: string;
  body: { path?: string; plan?: unknown; error?: { code: string; message: string } };
};
/** A PUT with `body` (or only headers when `body` is null: the test writes the body itself), answered or rejected. */
function put(
  name: string,
  body: Buffer | null,
  o: { token?: string; origin?: string; length?: number; chunked?: boolean } = {},
): Promise<Reply> & { req: http.ClientRequest } {
  const headers: Record<string, string | number> = {};
  if (!o.chunked) headers['Content-Length'] = o.length ?? body?.length ?? 0;
  if (o.origin) headers.Origin = o.origin;
  const q = `token=${encodeURIComponent(o.token ?? TOKEN)}&name=${encodeURIComponent(name)}`;
  const req = http.request({ host: '127.0.0.1', port: up.port, path: `/upload?${q}`, method: 'PUT', headers });
  const done = new Promise<Reply>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        resolve({
          status: res.statusCode ?? 0,
          ...(res.headers.connection === 'close' ? { connection: 'close' } : {}),
          body: JSON.parse(text) as Reply['body'],
        });
        req.destroy();
      });
    });
    req.on('error', reject);
  });
  // write + end: end(body) alone would add a Content-Length even for the chunked case.
  if (body) req.write(body);
  if (body) req.end();
  else req.flushHeaders();
  return Object.assign(done, { req });
}
/** `n` bytes of `fill`; different fills make files of the same size but different content. */
const iso = (n: number, fill = 7) => Buffer.alloc(n, fill);
const inLibrary = (name: string) => path.join(isoDir, name);
const listing = () => fs.readdirSync(isoDir).sort();
const partFiles = () => fs.readdirSync(isoDir).filter((f) => f.endsWith('.part'));
/** Waits until the upload's temp file exists (its size and checks passed, its body not yet placed). */
async function tempFileOf(name: string): Promise<string> {
  let part = '';
  await vi.waitFor(() => expect((part = partFiles().find((f) => f.startsWith(`.${name}.`)) ?? '')).not.toBe(''), {
    timeout: 5000,
  });
  return inLibrary(part);
}
/** Serves uploads into `dir` instead (afterEach closes it). */
async function restartWithUploadDir(dir: string): Promise<void> {
  await up.close();
  up = await startWebServer({
    link,
    staticDir: path.join(tmp, 'static'),
    token: TOKEN,
    uploadDir: dir,
    log: (l) => logLines.push(l),
  });
}

const IS_ROOT = process.getuid?.() === 0;
/** Another user's uid (nobody), for files and folders that are not ours. */
const NOBODY = 65534;
/** Mounting (a full tmpfs, a read-only bind mount) needs root, and a kernel that lets us. */
const CAN_MOUNT =
  IS_ROOT &&
  (() => {
    const probe = fs.mkdtempSync(path.join(os.tmpdir(), 'vmdesk-mount-probe-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
      execFileSync('umount', [probe], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    } finally {
      fs.rmdirSync(probe);
    }
  })();

describe('uploads (PUT /upload)', () => {
  it('stores the file under its cleaned name (0600), inspects it and answers {path, plan}', async () => {
    const data = iso(300_000);
    const r = await put('Debian 12 (netinst)?.iso', data);
    const file = inLibrary('Debian 12 _netinst__.iso');
    expect(r).toEqual({ status: 200, body: { path: file, plan: { info: { path: file } } } });
    expect(fs.readFileSync(file).equals(data)).toBe(true);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(listing()).toEqual(['Debian 12 _netinst__.iso']);
  });

  it('refuses a wrong token with 401 and another origin with 403, writing nothing', async () => {
    expect((await put('a.iso', iso(10), { token: 'wrong' })).status).toBe(401);
    expect((await put('a.iso', iso(10), { origin: 'http://evil.example' })).status).toBe(403);
    expect((await put('a.iso', iso(10), { origin: up.origin })).status).toBe(200);
    expect(listing()).toEqual(['a.iso']);
  });

  it('refuses names that are not .iso/.img with 400, and a missing Content-Length with 411', async () => {
    const bad = await put('notes.txt', iso(10));
    expect(bad.status).toBe(400);
    expect(bad.body.error?.message).toMatch(/ends in \.iso or \.img/);
    expect((await put('.iso', iso(10))).status).toBe(400);
    expect((await put('x.iso', iso(10), { chunked: true })).status).toBe(411);
    expect(fs.existsSync(isoDir)).toBe(false);
  });

  it('writes into a fresh hidden 0600 temp file and deletes it when the client goes away mid-way', async () => {
    const p = put('big.iso', null, { length: 4 * 1024 * 1024 });
    p.catch(() => {});
    p.req.write(iso(2 * 1024 * 1024));
    let part = '';
    await vi.waitFor(
      () => {
        [part = ''] = partFiles();
        expect(fs.statSync(inLibrary(part)).size).toBeGreaterThan(0);
      },
      { timeout: 5000 },
    );
    expect(part).toMatch(PART);
    expect(part.startsWith('.big.iso.')).toBe(true);
    const st = fs.lstatSync(inLibrary(part));
    expect(st.isFile()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    p.req.destroy();
    await vi.waitFor(() => expect(listing()).toEqual([]), { timeout: 5000 });
    // The name is free again once the aborted upload has cleaned up.
    expect((await put('big.iso', iso(1000))).status).toBe(200);
  });

  it('refuses a file larger than the free space with 507, and absurd sizes with 413, before writing', async () => {
    fs.mkdirSync(isoDir);
    const st = fs.statfsSync(isoDir);
    const tooBig = await put('huge.iso', null, { length: st.bavail * st.bsize + 2 ** 30 });
    expect(tooBig.status).toBe(507);
    expect(tooBig.body.error?.message).toMatch(/is free in/);
    expect((await put('huge.iso', null, { length: MAX_UPLOAD_BYTES + 1 })).status).toBe(413);
    expect(listing()).toEqual([]);
  });

  it('deletes an upload the inspector refuses and answers 422 with its message', async () => {
    const r = await put('x.iso', Buffer.from('text, not an image\n'));
    expect(r.status).toBe(422);
    expect(r.body.error).toMatchObject({
      code: 'invalid-argument',
      message: expect.stringMatching(/is a text file, not an ISO/) as unknown,
    });
    expect(listing()).toEqual([]);
  });

  it('answers 404 when the server has no upload folder', async () => {
    const bare = await startWebServer({ link, staticDir: path.join(tmp, 'static'), token: TOKEN });
    try {
      const r = await new Promise<number>((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port: bare.port, path: `/upload?token=${TOKEN}`, method: 'PUT' },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(r).toBe(404);
    } finally {
      await bare.close();
    }
  });
});

describe('uploads of the same name at the same time', () => {
  it('lets exactly one win; the others get 409 at once, and the stored file holds the winner’s bytes', async () => {
    const N = 5;
    const bodies = Array.from({ length: N }, (_, i) => iso(200_000, i + 1));
    // Every body but its last byte is sent, so all N requests are in the server together and
    // none can finish before the others have been seen.
    const puts = bodies.map((b) => {
      const p = put('same.iso', null, { length: b.length });
      p.req.write(b.subarray(0, b.length - 1));
      return p;
    });
    const replies: (Reply | undefined)[] = new Array<Reply | undefined>(N).fill(undefined);
    puts.forEach((p, i) => void p.then((r) => (replies[i] = r)));
    await vi.waitFor(() => expect(replies.filter(Boolean)).toHaveLength(N - 1), { timeout: 10_000 });
    const winner = replies.findIndex((r) => r === undefined);
    for (const r of replies.filter(Boolean)) {
      expect(r?.status).toBe(409);
      expect(r?.body.error?.message).toMatch(/"same\.iso" is being uploaded already.*Wait for it to finish/);
      // Its body was not read: the connection closes rather than Node reading it all to keep it.
      expect(r?.connection).toBe('close');
    }
    puts[winner]!.req.end(bodies[winner]!.subarray(-1));
    const won = await puts[winner]!;
    expect(won.status).toBe(200);
    expect(won.body.path).toBe(inLibrary('same.iso'));
    expect(fs.readFileSync(inLibrary('same.iso')).equals(bodies[winner]!)).toBe(true);
    expect(listing()).toEqual(['same.iso']);
  });

  it('never answers 200 with another upload’s bytes when many arrive together', async () => {
    for (let round = 0; round < 3; round++) {
      const bodies = Array.from({ length: 5 }, (_, i) => iso(100_000 + round, 10 * round + i + 1));
      const replies = await Promise.all(bodies.map((b) => put('race.iso', b)));
      const stored = new Set<string>();
      replies.forEach((r, i) => {
        expect([200, 409]).toContain(r.status);
        if (r.status !== 200) return;
        expect(fs.readFileSync(r.body.path!).equals(bodies[i]!)).toBe(true);
        stored.add(r.body.path!);
      });
      expect(stored.size).toBeGreaterThan(0);
      expect(partFiles()).toEqual([]);
    }
  });
});

describe('the same file again', () => {
  it('reuses a file with the same content (200, same answer, no copy)', async () => {
    const first = await put('d.iso', iso(1000));
    const again = await put('d.iso', iso(1000));
    expect(again).toEqual(first);
    expect(listing()).toEqual(['d.iso']);
    expect(logLines.at(-1)).toMatch(/d\.iso \(same content: reused\)$/);
  });

  it('stores a different file of the same name and size as "name (2).iso", leaving the first untouched', async () => {
    const a = iso(1000, 1);
    const b = iso(1000, 2);
    expect((await put('d.iso', a)).body.path).toBe(inLibrary('d.iso'));
    const second = await put('d.iso', b);
    expect(second.status).toBe(200);
    expect(second.body.path).toBe(inLibrary('d (2).iso'));
    expect(fs.readFileSync(inLibrary('d.iso')).equals(a)).toBe(true);
    expect(fs.readFileSync(inLibrary('d (2).iso')).equals(b)).toBe(true);
    // Each is found again by its content, and a third different one gets the next number.
    expect((await put('d.iso', b)).body.path).toBe(inLibrary('d (2).iso'));
    expect((await put('d.iso', a)).body.path).toBe(inLibrary('d.iso'));
    expect((await put('d.iso', iso(2000))).body.path).toBe(inLibrary('d (3).iso'));
    expect(listing()).toEqual(['d (2).iso', 'd (3).iso', 'd.iso']);
  });

  it('compares with files it did not store itself (put there by hand or by an earlier server)', async () => {
    fs.mkdirSync(isoDir);
    fs.writeFileSync(inLibrary('e.iso'), iso(5000, 3));
    expect((await put('e.iso', iso(5000, 3))).body.path).toBe(inLibrary('e.iso'));
    expect((await put('e.iso', iso(5000, 4))).body.path).toBe(inLibrary('e (2).iso'));
    expect(listing()).toEqual(['e (2).iso', 'e.iso']);
  });

  it('notices a library file changed in place since it was stored', async () => {
    const a = iso(1000, 1);
    await put('f.iso', a);
    fs.writeFileSync(inLibrary('f.iso'), iso(1000, 9));
    const past = new Date('2020-01-01T00:00:00Z');
    fs.utimesSync(inLibrary('f.iso'), past, past);
    const r = await put('f.iso', a);
    expect(r.body.path).toBe(inLibrary('f (2).iso'));
    expect(fs.readFileSync(inLibrary('f (2).iso')).equals(a)).toBe(true);
  });
});

describe('what is in the library is never written through', () => {
  let victim: string;
  beforeEach(() => {
    fs.mkdirSync(isoDir);
    victim = path.join(tmp, 'victim.txt');
    fs.writeFileSync(victim, iso(1000, 0x41));
  });

  it('ignores a planted symlink at the old temp name .NAME.part', async () => {
    fs.symlinkSync(victim, inLibrary('.g.iso.part'));
    const data = iso(1000, 0x42);
    const r = await put('g.iso', data);
    expect(r.status).toBe(200);
    expect(fs.readFileSync(victim).equals(iso(1000, 0x41))).toBe(true);
    expect(fs.lstatSync(inLibrary('g.iso')).isFile()).toBe(true);
    expect(fs.readFileSync(inLibrary('g.iso')).equals(data)).toBe(true);
  });

  it('skips a symlink at the name, even one to a file with the same content', async () => {
    fs.symlinkSync(victim, inLibrary('h.iso'));
    const other = await put('h.iso', iso(1000, 0x42));
    expect(other.body.path).toBe(inLibrary('h (2).iso'));
    const same = await put('h.iso', iso(1000, 0x41));
    expect(same.body.path).toBe(inLibrary('h (3).iso'));
    expect(fs.readFileSync(victim).equals(iso(1000, 0x41))).toBe(true);
    expect(fs.readlinkSync(inLibrary('h.iso'))).toBe(victim);
    expect(fs.readFileSync(inLibrary('h (2).iso')).equals(iso(1000, 0x42))).toBe(true);
  });

  it('skips a dangling symlink and a directory at the name', async () => {
    const nowhere = path.join(tmp, 'created-through-link.iso');
    fs.symlinkSync(nowhere, inLibrary('i.iso'));
    fs.mkdirSync(inLibrary('i (2).iso'));
    const r = await put('i.iso', iso(1000));
    expect(r.body.path).toBe(inLibrary('i (3).iso'));
    expect(fs.existsSync(nowhere)).toBe(false);
    expect(fs.readdirSync(inLibrary('i (2).iso'))).toEqual([]);
  });
});

describe('temp files left by a server that was killed', () => {
  it('are removed once they are an hour old; newer ones (a live upload elsewhere) stay', async () => {
    fs.mkdirSync(isoDir);
    const stale = inLibrary('.old.iso.0123456789abcdef.part');
    const live = inLibrary('.new.iso.fedcba9876543210.part');
    const mine = inLibrary('.mine.iso.part');
    for (const f of [stale, live, mine]) fs.writeFileSync(f, 'x');
    const longAgo = new Date(Date.now() - 2 * 3600_000);
    fs.utimesSync(stale, longAgo, longAgo);
    fs.utimesSync(mine, longAgo, longAgo);
    expect((await put('j.iso', iso(100))).status).toBe(200);
    expect(listing()).toEqual(['.mine.iso.part', '.new.iso.fedcba9876543210.part', 'j.iso']);
  });

  it('never removes the temp file of an upload still under way, however old it looks', async () => {
    // A slow upload writes its temp file only every WRITE_BATCH_BYTES; its mtime can be old.
    const data = iso(5000, 8);
    const slow = put('slow.iso', null, { length: data.length });
    slow.req.write(data.subarray(0, 100));
    const temp = await tempFileOf('slow.iso');
    const longAgo = new Date(Date.now() - 2 * 3600_000);
    fs.utimesSync(temp, longAgo, longAgo);
    expect((await put('other.iso', iso(100))).status).toBe(200);
    expect(fs.existsSync(temp)).toBe(true);
    slow.req.end(data.subarray(100));
    const r = await slow;
    expect(r.status).toBe(200);
    expect(fs.readFileSync(inLibrary('slow.iso')).equals(data)).toBe(true);
  });
});

describe('storage failures are answered with a sentence naming the folder, and logged', () => {
  const mounted: string[] = [];
  const mount = (...args: string[]) => {
    execFileSync('mount', args, { stdio: 'pipe' });
    mounted.push(args.at(-1)!);
  };
  afterEach(() => {
    // Before the outer afterEach removes tmp: nothing is left mounted under it.
    for (const m of mounted.splice(0).reverse()) execFileSync('umount', ['-l', m], { stdio: 'pipe' });
  });

  it.skipIf(!CAN_MOUNT)(
    'answers 500 when the library is on a read-only file system (it exists, or must be created)',
    async () => {
      const src = path.join(tmp, 'ro-src');
      fs.mkdirSync(src);
      fs.mkdirSync(isoDir);
      mount('--bind', '-o', 'ro', src, isoDir);
      const r = await put('k.iso', iso(1000));
      expect(r.status).toBe(500);
      expect(r.body.error?.code).toBe('storage');
      expect(r.body.error?.message).toContain(`${isoDir} is on a read-only file system`);
      expect(logLines.some((l) => l.includes('k.iso') && l.includes('read-only'))).toBe(true);
      // The library does not exist yet, and its parent is read-only: mkdir fails.
      await restartWithUploadDir(path.join(isoDir, 'isos'));
      const made = await put('k.iso', iso(1000));
      expect(made.status).toBe(500);
      expect(made.body.error?.message).toContain(`${isoDir} is on a read-only file system`);
    },
  );

  it.skipIf(!CAN_MOUNT)('answers 507 when the disk fills up while the body is written, and keeps nothing', async () => {
    fs.mkdirSync(isoDir);
    mount('-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', isoDir);
    // More than the disk holds is refused before a byte is written.
    const tooBig = await put('big.iso', iso(5 * 1024 * 1024));
    expect(tooBig.status).toBe(507);
    expect(tooBig.body.error?.message).toMatch(new RegExp(`only .* is free in ${isoDir}`));
    // This one fits when it starts; then something else takes the space. Its first write fails
    // with most of the body still to come: that is read and dropped, so the reply is not lost
    // in a reset connection.
    const data = iso(3 * 1024 * 1024);
    const p = put('l.iso', null, { length: data.length });
    await tempFileOf('l.iso');
    try {
      fs.writeFileSync(path.join(isoDir, 'filler'), Buffer.alloc(8 * 1024 * 1024));
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    }
    p.req.end(data);
    const r = await p;
    expect(r.status).toBe(507);
    expect(r.body.error?.code).toBe('storage');
    expect(r.body.error?.message).toContain(`No space left in ${isoDir}`);
    expect(listing()).toEqual(['filler']);
    expect(logLines.some((l) => l.includes('l.iso') && l.includes('No space left'))).toBe(true);
  });
});

describe('a file system without hard links (the copy fallback)', () => {
  // Fake: no file system here refuses link(2) on demand (vfat, some FUSE ones do), so link is
  // made to fail as they do; everything else is the real file system.
  const realCopyFile = fs.promises.copyFile;
  beforeEach(() => {
    vi.spyOn(fs.promises, 'link').mockRejectedValue(
      Object.assign(new Error('EPERM: operation not permitted, link'), { code: 'EPERM', syscall: 'link' }),
    );
  });
  afterEach(() => vi.restoreAllMocks());

  it('copies the upload into place', async () => {
    const data = iso(300_000, 5);
    const r = await put('m.iso', data);
    expect(r.status).toBe(200);
    expect(fs.readFileSync(inLibrary('m.iso')).equals(data)).toBe(true);
    expect(listing()).toEqual(['m.iso']);
  });

  it('never removes a file another program put at the name when the copy fails before creating it', async () => {
    // Fake interleaving: the copy fails opening its source (as when the temp file vanished), and
    // another program creates the target right then.
    vi.spyOn(fs.promises, 'copyFile').mockImplementation(async (_src, dest, mode) => {
      const err: unknown = await realCopyFile(path.join(tmp, 'no-such-source'), dest, mode).catch((e: unknown) => e);
      fs.writeFileSync(dest, 'another program’s file');
      throw err;
    });
    const r = await put('n.iso', iso(1000));
    expect(r.status).toBe(500);
    expect(r.body.error?.message).toMatch(/"n\.iso" could not be stored in .*ENOENT/);
    expect(fs.readFileSync(inLibrary('n.iso'), 'utf8')).toBe('another program’s file');
  });
});

describe('only files and folders that are ours are trusted', () => {
  it.skipIf(!IS_ROOT)('does not reuse a file of the same content that belongs to another user', async () => {
    fs.mkdirSync(isoDir);
    fs.writeFileSync(inLibrary('o.iso'), iso(1000, 6));
    fs.chownSync(inLibrary('o.iso'), NOBODY, NOBODY);
    const r = await put('o.iso', iso(1000, 6));
    expect(r.body.path).toBe(inLibrary('o (2).iso'));
  });

  it('does not reuse a file of the same content that has another name too (a hard link)', async () => {
    fs.mkdirSync(isoDir);
    fs.writeFileSync(inLibrary('p.iso'), iso(1000, 6));
    fs.linkSync(inLibrary('p.iso'), path.join(tmp, 'elsewhere.iso'));
    const r = await put('p.iso', iso(1000, 6));
    expect(r.body.path).toBe(inLibrary('p (2).iso'));
  });

  it.skipIf(!IS_ROOT)('refuses a library folder that belongs to another user, naming it', async () => {
    fs.mkdirSync(isoDir);
    fs.chownSync(isoDir, NOBODY, NOBODY);
    const r = await put('q.iso', iso(1000));
    expect(r.status).toBe(500);
    expect(r.body.error?.message).toContain(`The ISO library ${isoDir} belongs to another user (uid ${NOBODY})`);
    expect(listing()).toEqual([]);
    expect(logLines.some((l) => l.includes('q.iso') && l.includes('another user'))).toBe(true);
  });

  it('takes away the write permission of others from a library folder that has it, and says so', async () => {
    fs.mkdirSync(isoDir);
    fs.chmodSync(isoDir, 0o777);
    expect((await put('r.iso', iso(1000))).status).toBe(200);
    expect(fs.statSync(isoDir).mode & 0o777).toBe(0o755);
    expect(logLines.some((l) => l.includes(isoDir) && l.includes('0777'))).toBe(true);
  });
});

describe('upload file names', () => {
  it('keeps the last path component and replaces anything unusual', () => {
    expect(uploadFileName('C:\\Users\\me\\debian-12.iso')).toBe('debian-12.iso');
    expect(uploadFileName('../../..//etc/ubuntu 24.04.IMG')).toBe('ubuntu 24.04.IMG');
    expect(uploadFileName('...hidden.iso')).toBe('hidden.iso');
    expect(uploadFileName('Fedora\u00e9$(x).iso')).toBe('Fedora___x_.iso');
    expect(uploadFileName('a'.repeat(300) + '.iso')).toHaveLength(200);
  });

  it('refuses names without an .iso or .img ending', () => {
    for (const bad of [null, '', '.iso', 'notes.txt', 'x.iso.part', '/'])
      expect(() => uploadFileName(bad)).toThrow(/\.iso or \.img/);
  });
});
