import { describe, expect, it } from 'vitest';
import { parseShare } from '../cli/args.js';
import { mountCommand, planShares } from './shares.js';

const rw = { path: '/home/ada/docs', tag: 'docs', readOnly: false };
const ro = { ...rw, tag: 'pics', readOnly: true };

describe('planShares', () => {
  it('uses virtio-fs with the Rust virtiofsd, for read-only shares too', () => {
    const plans = planShares([rw, ro], { path: '/usr/libexec/virtiofsd', flavour: 'rust' }, false);
    expect(plans.map((p) => p.mode)).toEqual(['virtiofs', 'virtiofs']);
  });

  it('uses QEMU’s own virtiofsd only as root and read-write; else 9p, saying why', () => {
    const c = { path: '/usr/lib/qemu/virtiofsd', flavour: 'qemu' as const };
    expect(planShares([rw], c, true)).toEqual([{ share: rw, mode: 'virtiofs' }]);
    expect(planShares([rw], c, false)[0]).toMatchObject({
      mode: '9p',
      reason: expect.stringContaining("(QEMU's own virtiofsd) runs only as root"),
    });
    expect(planShares([ro], c, true)[0]).toMatchObject({
      mode: '9p',
      reason: '/usr/lib/qemu/virtiofsd cannot share a folder read-only',
    });
  });

  it('uses 9p without any virtiofsd, naming what to install', () => {
    expect(planShares([rw], { path: null, fix: 'sudo apt install virtiofsd' }, false)[0]).toMatchObject({
      mode: '9p',
      reason: 'virtiofsd is not installed (sudo apt install virtiofsd)',
    });
  });

  it('says how the guest mounts each', () => {
    expect(mountCommand({ share: rw, mode: 'virtiofs' })).toBe('mount -t virtiofs docs /mnt');
    expect(mountCommand({ share: rw, mode: '9p' })).toBe('mount -t 9p -o trans=virtio,version=9p2000.L docs /mnt');
  });
});

describe('--share', () => {
  it('takes DIR, DIR:TAG and DIR:TAG:ro; the tag defaults to the folder’s name', () => {
    expect(parseShare('/home/ada/My Docs')).toEqual({ path: '/home/ada/My Docs', tag: 'My_Docs', readOnly: false });
    expect(parseShare('/srv/data:data')).toEqual({ path: '/srv/data', tag: 'data', readOnly: false });
    expect(parseShare('/srv/data:data:ro')).toEqual({ path: '/srv/data', tag: 'data', readOnly: true });
    expect(parseShare('/srv/data:ro')).toEqual({ path: '/srv/data', tag: 'data', readOnly: true });
    expect(() => parseShare('/a:b:c:d')).toThrow(
      '"/a:b:c:d" is not a share. Write --share HOSTDIR, --share HOSTDIR:TAG or --share HOSTDIR:TAG:ro.',
    );
  });
});
