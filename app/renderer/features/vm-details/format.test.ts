import { describe, expect, it } from 'vitest';
import { cpuMemoryText, diskSizeText } from './format.js';

describe('sizes for people', () => {
  it('says how much of a disk is used when the host space is known, else its size', () => {
    expect(diskSizeText(20 * 2 ** 30, 1288490189)).toBe('1.2 GiB used of 20 GiB');
    expect(diskSizeText(20 * 2 ** 30)).toBe('20 GiB');
    expect(diskSizeText(undefined)).toMatch(/cannot be read/);
  });

  it('puts CPUs and memory in one phrase', () => {
    expect(cpuMemoryText(1, 1024)).toBe('1 CPU, 1 GiB memory');
    expect(cpuMemoryText(4, 512)).toBe('4 CPUs, 512 MiB memory');
  });
});
