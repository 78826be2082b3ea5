/**
 * The privileged helper script, run with `sh` against a fixture sysfs root (the test-only
 * VMDESK_MDEV_HELPER_ROOT). Writing to a regular file named `create` / `remove` is how the kernel
 * interface is observed here.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { buildSysfs, installUdevMatcher, type BuiltSysfs } from './fixtures/build-sysfs.js';
import { gvtgHost, MTTY_UUID, samplesHost } from './fixtures/hosts.js';
import { MODULES_LOAD_FILE, UDEV_MATCHER, UDEV_RULES, UDEV_RULES_FILE, VFIO_MODULES, memlockDropIn } from './fixes.js';
import { applyFixArgs, helperArgs } from './privileged.js';
import { usbRuleFile, usbRuleLine } from '../host/usb.js';

const HELPER = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../resources/mdev-helper/vmdesk-mdev-helper',
);
const NEW = '0d2c4e6f-8a1b-4c3d-9e5f-a7b9c1d3e5f7';
const TYPE_DIR = 'sys/devices/virtual/mtty/mtty/mdev_supported_types';

let built: BuiltSysfs[] = [];
afterEach(() => {
  for (const b of built) b.cleanup();
  built = [];
});

function host(f = samplesHost): BuiltSysfs {
  const b = buildSysfs(f);
  built.push(b);
  return b;
}

function helper(b: BuiltSysfs | undefined, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync('sh', [HELPER, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...(b ? { VMDESK_MDEV_HELPER_ROOT: b.root } : {}), ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const createFile = (b: BuiltSysfs, type = 'mtty-2') => fs.readFileSync(b.at(`${TYPE_DIR}/${type}/create`), 'utf8');

describe('vmdesk-mdev-helper create / remove', () => {
  it("creates by writing the (lower-cased) UUID to the type's create file", () => {
    const b = host();
    const r = helper(b, ['create', '--parent', 'mtty', '--type', 'mtty-2', '--uuid', NEW.toUpperCase()]);
    expect(r).toMatchObject({ code: 0, stdout: `created ${NEW}\n`, stderr: '' });
    expect(createFile(b)).toBe(`${NEW}\n`);
  });

  it("removes by writing 1 to the device's remove file", () => {
    const b = host();
    expect(helper(b, ['remove', '--uuid', MTTY_UUID])).toMatchObject({ code: 0, stdout: `removed ${MTTY_UUID}\n` });
    expect(fs.readFileSync(b.at(`sys/bus/mdev/devices/${MTTY_UUID}/remove`), 'utf8')).toBe('1\n');
  });

  it('takes exactly the argv that privileged.ts builds', () => {
    const b = host(gvtgHost);
    const args = helperArgs({ kind: 'create', parent: '0000:00:02.0', type: 'i915-GVTg_V5_8', uuid: NEW });
    expect(helper(b, args).code).toBe(0);
    expect(
      fs.readFileSync(b.at('sys/devices/pci0000:00/0000:00:02.0/mdev_supported_types/i915-GVTg_V5_8/create'), 'utf8'),
    ).toBe(`${NEW}\n`);
  });

  it('with mdevctl, defines and starts a persistent device (and undefines it on remove)', () => {
    const b = host();
    const env = { VMDESK_MDEV_HELPER_FAKE_MDEVCTL: '1' };
    expect(
      helper(b, ['create', '--parent', 'mtty', '--type', 'mtty-2', '--uuid', NEW, '--persistent'], env).stdout,
    ).toBe(
      `would run: mdevctl define --uuid ${NEW} --parent mtty --type mtty-2 --auto\nwould run: mdevctl start --uuid ${NEW}\ncreated ${NEW}\n`,
    );
    expect(createFile(b)).toBe(''); // mdevctl does the write, not the helper
    expect(helper(b, ['remove', '--uuid', MTTY_UUID, '--persistent'], env).stdout).toBe(
      `would run: mdevctl stop --uuid ${MTTY_UUID}\nwould run: mdevctl undefine --uuid ${MTTY_UUID}\nremoved ${MTTY_UUID}\n`,
    );
  });
});

describe('vmdesk-mdev-helper refuses', () => {
  const refused = (r: ReturnType<typeof helper>, code: number, message: RegExp) => {
    expect(r.code).toBe(code);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
  };

  it('path traversal in the type or parent, before touching anything', () => {
    const b = host();
    refused(
      helper(b, ['create', '--parent', 'mtty', '--type', '../../../../etc', '--uuid', NEW]),
      2,
      /not a valid type: \.\.\/\.\.\/\.\.\/\.\.\/etc/,
    );
    refused(helper(b, ['create', '--parent', '..', '--type', 'mtty-2', '--uuid', NEW]), 2, /not a valid parent/);
    refused(
      helper(b, ['create', '--parent', 'mtty/../mdpy', '--type', 'mdpy-hd', '--uuid', NEW]),
      2,
      /not a valid parent/,
    );
    refused(helper(b, ['apply-fix', 'create,mtty,..,' + NEW]), 2, /not a valid type/);
    expect(createFile(b)).toBe('');
  });

  it('a UUID with shell metacharacters, without running them', () => {
    const b = host();
    const marker = path.join(b.root, 'pwned');
    for (const uuid of [
      `${NEW.slice(0, -4)}$(touch ${marker})`,
      `${NEW};touch ${marker}`,
      `\`touch ${marker}\``,
      `${NEW}\n`,
      '',
    ]) {
      const r = helper(b, ['create', '--parent', 'mtty', '--type', 'mtty-2', '--uuid', uuid]);
      expect(r.code).toBe(2);
      expect(r.stderr).not.toContain('\n\n');
    }
    expect(fs.existsSync(marker)).toBe(false);
    expect(createFile(b)).toBe('');
  });

  it('extra, unknown, repeated and missing arguments', () => {
    const b = host();
    const ok = ['create', '--parent', 'mtty', '--type', 'mtty-2', '--uuid', NEW];
    refused(helper(b, [...ok, 'extra']), 2, /unexpected argument: extra/);
    refused(helper(b, [...ok, '--force']), 2, /unexpected argument: --force/);
    refused(helper(b, [...ok, '--uuid', NEW]), 2, /--uuid given twice/);
    refused(helper(b, ['create', '--parent', 'mtty', '--type', 'mtty-2']), 2, /needs --parent, --type and --uuid/);
    refused(helper(b, ['create', '--parent']), 2, /--parent needs a value/);
    refused(helper(b, ['remove', '--uuid', NEW, '--parent', 'mtty']), 2, /unexpected argument/);
    refused(helper(b, ['frobnicate']), 2, /unknown command/);
    refused(helper(b, []), 2, /usage/);
  });

  it('a sysfs root override under pkexec, or a relative one', () => {
    const b = host();
    refused(
      helper(b, ['create', '--parent', 'mtty', '--type', 'mtty-2', '--uuid', NEW], { PKEXEC_UID: '1000' }),
      2,
      /refused under pkexec/,
    );
    refused(
      helper(undefined, ['remove', '--uuid', NEW], { VMDESK_MDEV_HELPER_ROOT: 'tmp/sys' }),
      2,
      /must be an absolute path/,
    );
    refused(
      helper(undefined, ['remove', '--uuid', NEW], { VMDESK_MDEV_HELPER_ROOT: `${b.root}/../..` }),
      2,
      /must not contain \.\./,
    );
    expect(createFile(b)).toBe('');
  });

  it('an existing UUID, no instances left, a type without create, a parent that went away', () => {
    const b = host();
    refused(helper(b, ['create', '--parent', 'mtty', '--type', 'mtty-2', '--uuid', MTTY_UUID]), 3, /already exists/);
    fs.writeFileSync(b.at(`${TYPE_DIR}/mtty-1/available_instances`), '0\n');
    refused(
      helper(b, ['create', '--parent', 'mtty', '--type', 'mtty-1', '--uuid', NEW]),
      3,
      /no instances of mtty-1 are left/,
    );
    fs.rmSync(b.at(`${TYPE_DIR}/mtty-2/create`));
    refused(helper(b, ['create', '--parent', 'mtty', '--type', 'mtty-2', '--uuid', NEW]), 3, /has no create file/);
    refused(helper(b, ['create', '--parent', 'mtty', '--type', 'mtty-9', '--uuid', NEW]), 3, /has no mdev type mtty-9/);
    fs.rmSync(b.at('sys/class/mdev_bus/mbochs'));
    refused(
      helper(b, ['create', '--parent', 'mbochs', '--type', 'mbochs-1', '--uuid', NEW]),
      3,
      /no mdev parent mbochs/,
    );
    refused(helper(b, ['remove', '--uuid', NEW]), 3, /no mediated device/);
    refused(
      helper(b, ['create', '--parent', 'mdpy', '--type', 'mdpy-hd', '--uuid', NEW, '--persistent']),
      3,
      /--persistent needs mdevctl/,
    );
  });
});

describe('vmdesk-mdev-helper apply-fix', () => {
  it('applies every action of one prompt, writing the same lines the doctor shows', () => {
    const b = host();
    installUdevMatcher(b, HELPER);
    const args = applyFixArgs([
      { kind: 'memlock', user: 'ada', kib: 5242880 },
      { kind: 'create', parent: 'mtty', type: 'mtty-1', uuid: NEW },
      { kind: 'udev-rule' },
      { kind: 'modules' },
    ]);
    expect(args).toEqual(['apply-fix', 'modules', 'udev-rule', `create,mtty,mtty-1,${NEW}`, 'memlock,ada,5242880']);
    const r = helper(b, args);
    expect(r.code).toBe(0);
    const body = (f: string) =>
      fs
        .readFileSync(b.at(f), 'utf8')
        .split('\n')
        .filter((l) => l && !l.startsWith('#'));
    expect(body(UDEV_RULES_FILE)).toEqual(UDEV_RULES);
    expect(body(MODULES_LOAD_FILE)).toEqual(VFIO_MODULES);
    expect(body(memlockDropIn('ada'))).toEqual(['ada hard memlock 5242880', 'ada soft memlock 5242880']);
    expect(createFile(b, 'mtty-1')).toBe(`${NEW}\n`);
    expect(r.stdout).toContain(
      'would run: udevadm control --reload\nwould run: udevadm trigger --subsystem-match=vfio --subsystem-match=misc\n',
    );
    expect(r.stdout).toContain('would run: modprobe -a vfio vfio_iommu_type1 mdev\n');
  });

  it('validates every action first: one bad action and nothing at all is done', () => {
    const b = host();
    installUdevMatcher(b, HELPER);
    for (const bad of [
      'memlock,@wheel,1024',
      'memlock,ada,10G',
      'memlock,ada;id,1',
      'udev-rule,extra',
      'create,mtty,mtty-1',
      'reboot',
      '*',
    ]) {
      const r = helper(b, ['apply-fix', 'udev-rule', `create,mtty,mtty-1,${NEW}`, bad]);
      expect(r.code, bad).toBe(2);
      expect(r.stdout).toBe('');
    }
    expect(fs.existsSync(b.at(UDEV_RULES_FILE))).toBe(false);
    expect(createFile(b, 'mtty-1')).toBe('');
    expect(helper(b, ['apply-fix']).code).toBe(2);
  });
});

/**
 * The udev rule's matcher. There is no udevd in the test container and no mdev-capable hardware on
 * the machines that run these tests, so the tree udev would hand it is a fixture sysfs: an mdev in
 * its own IOMMU group (as the kernel makes one for every mdev), a GPU and its audio function bound
 * to vfio-pci sharing a group (a whole-device passthrough), and a group holding both kinds.
 */
const passthroughHost = (): BuiltSysfs => {
  const gpu = (fn: string) => ({
    name: `0000:01:00.${fn}`,
    devicePath: `devices/pci0000:00/0000:00:01.0/0000:01:00.${fn}`,
    driver: 'vfio-pci',
    iommuGroup: '1',
  });
  const b = host({
    ...samplesHost,
    pci: [
      gpu('0'),
      gpu('1'),
      { ...gpu('0'), name: '0000:02:00.0', devicePath: 'devices/pci0000:00/0000:02:00.0', iommuGroup: '0' },
    ],
    iommuGroups: ['1', '7'],
    dev: { vfioContainer: true, vfioGroups: ['0', '1'] },
  });
  return b;
};

describe('vmdesk-mdev-helper is-mdev-group (the udev rule asks it, for /dev/vfio/<N>)', () => {
  const ask = (b: BuiltSysfs, group: string, env: Record<string, string> = {}) =>
    helper(b, ['is-mdev-group', group], env);

  it("says yes for a mediated device's group, no for a vfio-pci group, a mixed, an empty or a missing one", () => {
    const b = passthroughHost();
    const sole = host();
    expect(ask(sole, '0')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(ask(b, '1')).toMatchObject({ code: 1, stdout: '' });
    expect(ask(b, '0')).toMatchObject({ code: 1, stdout: '' }); // MTTY_UUID and 0000:02:00.0
    expect(ask(b, '7')).toMatchObject({ code: 1, stdout: '' });
    expect(ask(b, '99')).toMatchObject({ code: 1, stdout: '' });
  });

  it('does not count a device as mediated because of an mdev_type link alone', () => {
    const b = passthroughHost();
    fs.symlinkSync(b.at(`${TYPE_DIR}/mtty-1`), b.at('sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/mdev_type'));
    fs.symlinkSync(b.at(`${TYPE_DIR}/mtty-1`), b.at('sys/devices/pci0000:00/0000:00:01.0/0000:01:00.1/mdev_type'));
    expect(ask(b, '1').code).toBe(1);
  });

  it('takes only a group number: anything else is refused before sysfs is read', () => {
    const b = host();
    for (const bad of ['', '../0', '0/..', '-1', '0 0', 'noiommu-0', '1e3', `${'9'.repeat(11)}`]) {
      const r = ask(b, bad);
      expect(r.code, bad).toBe(2);
      expect(r.stderr).toMatch(/not an IOMMU group number/);
    }
    expect(helper(b, ['is-mdev-group']).code).toBe(2);
    expect(helper(b, ['is-mdev-group', '0', '1']).code).toBe(2);
  });

  it('refuses the test-only root when udev runs it (udev passes DEVPATH and SEQNUM)', () => {
    const b = host();
    const r = ask(b, '0', { DEVPATH: '/devices/virtual/vfio/0', SEQNUM: '4711' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refused under udev/);
  });
});

describe('vmdesk-mdev-helper apply-fix udev-rule', () => {
  const OLD_RULE =
    '# vmdesk: members of group kvm may open VFIO groups (mediated devices)\nSUBSYSTEM=="vfio", GROUP="kvm", MODE="0660"\nSUBSYSTEM=="misc", KERNEL=="vfio", MODE="0666"\n';

  it('writes a rule that opens only the groups the matcher accepts, never every VFIO group', () => {
    const b = passthroughHost();
    installUdevMatcher(b, HELPER);
    expect(helper(b, ['apply-fix', 'udev-rule']).code).toBe(0);
    const vfio = fs
      .readFileSync(b.at(UDEV_RULES_FILE), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"vfio"'));
    expect(vfio).toEqual([
      `SUBSYSTEM=="vfio", KERNEL=="[0-9]*", PROGRAM="${UDEV_MATCHER} is-mdev-group %k", GROUP="kvm", MODE="0660"`,
      'SUBSYSTEM=="misc", KERNEL=="vfio", MODE="0666"',
    ]);
  });

  // Giving fixture nodes to gid 36 (kvm in the fixture's etc/group) needs root.
  it.skipIf(process.getuid?.() !== 0)(
    'replaces the old broad rule, and gives back to root the passthrough groups it opened',
    () => {
      const b = passthroughHost();
      installUdevMatcher(b, HELPER);
      fs.mkdirSync(path.dirname(b.at(UDEV_RULES_FILE)), { recursive: true });
      fs.writeFileSync(b.at(UDEV_RULES_FILE), OLD_RULE);
      fs.writeFileSync(b.at('etc/group'), 'root:x:0:\nkvm:x:36:ada\n');
      fs.writeFileSync(b.at('dev/vfio/16'), ''); // a second mdev group, opened by the rule as it should be
      fs.writeFileSync(b.at('dev/vfio/2'), ''); // a passthrough group someone else gave to kvm 0640: not the rule's
      for (const n of ['0', '1', '16', '2']) fs.chownSync(b.at(`dev/vfio/${n}`), 0, 36);
      for (const n of ['0', '1', '16']) fs.chmodSync(b.at(`dev/vfio/${n}`), 0o660);
      fs.chmodSync(b.at('dev/vfio/2'), 0o640);
      fs.mkdirSync(b.at('sys/kernel/iommu_groups/2/devices'), { recursive: true });
      fs.mkdirSync(b.at('sys/kernel/iommu_groups/16/devices'), { recursive: true });
      fs.symlinkSync(
        b.at(`sys/bus/mdev/devices/${MTTY_UUID}`),
        b.at(`sys/kernel/iommu_groups/16/devices/${MTTY_UUID}`),
      );
      const r = helper(b, ['apply-fix', 'udev-rule']);
      expect(r.code).toBe(0);
      expect(fs.readFileSync(b.at(UDEV_RULES_FILE), 'utf8')).not.toContain('SUBSYSTEM=="vfio", GROUP=');
      // Groups 0 (mixed) and 1 (vfio-pci) were opened by the old rule; udev does not undo a rule that
      // is gone on a "change" event, so the helper does.
      const closed = r.stdout.split('\n').filter((l) => /chmod|chgrp/.test(l));
      expect(closed).toEqual([
        `would run: chmod 0600 ${b.at('dev/vfio/0')}`,
        `would run: chgrp 0 ${b.at('dev/vfio/0')}`,
        `would run: chmod 0600 ${b.at('dev/vfio/1')}`,
        `would run: chgrp 0 ${b.at('dev/vfio/1')}`,
      ]);
    },
  );

  it('refuses (and does nothing) while the matcher the rule runs is not installed where only root can change it', () => {
    const b = host();
    const r = helper(b, ['apply-fix', 'udev-rule', `create,mtty,mtty-1,${NEW}`]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`sudo install -D -o root -g root -m 0755`);
    expect(r.stderr).toContain(UDEV_MATCHER);
    expect(fs.existsSync(b.at(UDEV_RULES_FILE))).toBe(false);
    expect(createFile(b, 'mtty-1')).toBe('');
    installUdevMatcher(b, HELPER);
    fs.chmodSync(b.at(UDEV_MATCHER), 0o777);
    expect(helper(b, ['apply-fix', 'udev-rule']).code).toBe(3);
    fs.chmodSync(b.at(UDEV_MATCHER), 0o755);
    fs.chmodSync(path.dirname(b.at(UDEV_MATCHER)), 0o777);
    expect(helper(b, ['apply-fix', 'udev-rule']).code).toBe(3);
  });
});

describe('vmdesk-mdev-helper usb-rule', () => {
  it('writes the udev rule for exactly one vendor:product, as usb.ts words it, and applies it to those devices', () => {
    const b = host();
    const r = helper(b, applyFixArgs([{ kind: 'usb-rule', vendorId: '046d', productId: 'c52b' }]));
    const file = b.at(usbRuleFile('046d', 'c52b').slice(1));
    expect(r).toMatchObject({
      code: 0,
      stderr: '',
      stdout: [
        `wrote ${file}`,
        'would run: udevadm control --reload',
        'would run: udevadm trigger --attr-match=idVendor=046d --attr-match=idProduct=c52b',
        '',
      ].join('\n'),
    });
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    expect(lines[0]).toMatch(/^# vmdesk: /);
    expect(lines.slice(1)).toEqual([usbRuleLine('046d', 'c52b'), '']);
    expect((fs.statSync(file).mode & 0o777).toString(8)).toBe('644');
  });

  it('refuses ids that are not four lowercase hex digits, or a malformed action, writing nothing', () => {
    const b = host();
    for (const action of [
      'usb-rule,046D,c52b',
      'usb-rule,../x,c52b',
      'usb-rule,046d,c52b;reboot',
      'usb-rule,046d',
      'usb-rule,046d,c52b,extra',
      'usb-rule,*,*',
    ]) {
      const r = helper(b, ['apply-fix', action]);
      expect(r.code, action).toBe(2);
      expect(r.stdout).toBe('');
    }
    expect(fs.existsSync(b.at('etc/udev/rules.d'))).toBe(false);
  });
});

describe('the helper file', () => {
  it('is a short POSIX sh script, executable, that dash and bash both parse', () => {
    const text = fs.readFileSync(HELPER, 'utf8');
    expect(text.startsWith('#!/bin/sh\n')).toBe(true);
    expect(text.split('\n').length).toBeLessThan(190);
    expect(fs.statSync(HELPER).mode & 0o111).not.toBe(0);
    for (const shell of ['sh', 'bash']) expect(spawnSync(shell, ['-n', HELPER]).status).toBe(0);
  });
});
