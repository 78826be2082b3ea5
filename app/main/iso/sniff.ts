/**
 * What a file that is not a disc image probably is, from its first bytes, so the error can say
 * "this is a qcow2 disk" or "this is a web page (a failed download)" instead of only "not an ISO".
 */

interface Magic {
  at: number;
  bytes: string;
  what: string;
  hint?: string;
}

const DOWNLOAD_AGAIN = 'Download the installer ISO again.';
const MAGICS: Magic[] = [
  { at: 0, bytes: '\x89PNG\r\n\x1a\n', what: 'a PNG picture' },
  { at: 0, bytes: '\xff\xd8\xff', what: 'a JPEG picture' },
  { at: 0, bytes: '%PDF-', what: 'a PDF document' },
  { at: 0, bytes: 'PK\x03\x04', what: 'a ZIP archive', hint: 'If the ISO is inside it, extract it first.' },
  {
    at: 0,
    bytes: '\x1f\x8b',
    what: 'a gzip-compressed file',
    hint: 'Decompress it first (gunzip); the ISO may be inside.',
  },
  {
    at: 0,
    bytes: '\xfd7zXZ\x00',
    what: 'an xz-compressed file',
    hint: 'Decompress it first (unxz); the ISO may be inside.',
  },
  {
    at: 0,
    bytes: 'BZh',
    what: 'a bzip2-compressed file',
    hint: 'Decompress it first (bunzip2); the ISO may be inside.',
  },
  {
    at: 0,
    bytes: '(\xb5/\xfd',
    what: 'a zstd-compressed file',
    hint: 'Decompress it first (unzstd); the ISO may be inside.',
  },
  { at: 0, bytes: "7z\xbc\xaf'\x1c", what: 'a 7-Zip archive', hint: 'If the ISO is inside it, extract it first.' },
  {
    at: 0,
    bytes: 'QFI\xfb',
    what: 'a qcow2 disk image',
    hint: "Use it as the VM's disk (vmdesk define --disk), not as an installer ISO.",
  },
  {
    at: 0,
    bytes: 'KDMV',
    what: 'a VMware disk image (VMDK)',
    hint: 'Convert it with qemu-img and use it as a disk, not as an installer ISO.',
  },
  {
    at: 0,
    bytes: 'vhdxfile',
    what: 'a Hyper-V disk image (VHDX)',
    hint: 'Convert it with qemu-img and use it as a disk, not as an installer ISO.',
  },
  {
    at: 64,
    bytes: '\x7f\x10\xda\xbe',
    what: 'a VirtualBox disk image (VDI)',
    hint: 'Convert it with qemu-img and use it as a disk, not as an installer ISO.',
  },
  { at: 0, bytes: '\x7fELF', what: 'a program (ELF executable)' },
  { at: 0, bytes: 'MZ', what: 'a Windows program' },
];

/** A phrase like "a PNG picture" and what to do, or undefined when the bytes say nothing. */
export function sniffFileKind(head: Buffer): { what: string; hint: string } | undefined {
  for (const m of MAGICS) {
    if (head.length >= m.at + m.bytes.length && head.toString('latin1', m.at, m.at + m.bytes.length) === m.bytes)
      return { what: m.what, hint: m.hint ?? DOWNLOAD_AGAIN };
  }
  const text = head.toString('latin1', 0, Math.min(head.length, 512)).trimStart().toLowerCase();
  if (text.startsWith('<!doctype html') || text.startsWith('<html'))
    return {
      what: 'a web page',
      hint: 'The download probably failed and saved an error page. Download the installer ISO again.',
    };
  // Printable UTF-8 with line breaks and no NULs: a text file (notes, a checksum list, a torrent's name).
  const sample = head.subarray(0, 512);
  // eslint-disable-next-line no-control-regex
  if (sample.length > 0 && !sample.includes(0) && !/[\u0000-\u0008\u000e-\u001f\ufffd]/.test(sample.toString('utf8')))
    return { what: 'a text file', hint: "Pick the installer's .iso file itself." };
  if (head.length >= 1024 && head.toString('latin1', 512, 520) === 'EFI PART')
    return {
      what: 'a disk image with a GPT partition table',
      hint: "Use it as the VM's disk (vmdesk define --disk PATH), not as an installer ISO.",
    };
  if (head.length >= 512 && head[510] === 0x55 && head[511] === 0xaa)
    return {
      what: 'a disk image with an MBR partition table',
      hint: "Use it as the VM's disk (vmdesk define --disk PATH), not as an installer ISO.",
    };
  return undefined;
}
