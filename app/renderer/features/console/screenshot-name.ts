/** `NAME-YYYYMMDD-HHMMSS.png` in local time; characters that file systems refuse become "_". */
export function screenshotFileName(vmName: string, at: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${at.getFullYear()}${p(at.getMonth() + 1)}${p(at.getDate())}-${p(at.getHours())}${p(at.getMinutes())}${p(at.getSeconds())}`;
  // eslint-disable-next-line no-control-regex
  const safe = vmName.replace(/[\u0000-\u001f\u007f/\\:*?"<>|]/g, '_').trim() || 'vm';
  return `${safe}-${stamp}.png`;
}
