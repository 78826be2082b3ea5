import { describe, expect, it } from 'vitest';
import { carriesFiles, pickDroppedFile } from './drop.js';
import { percent, progressText, speed } from './progress.js';

const f = (name: string) => ({ name });

describe('a drop on the window', () => {
  it('shows the overlay only for drags that carry files', () => {
    expect(carriesFiles(['Files', 'application/x-moz-file'])).toBe(true);
    expect(carriesFiles(['text/plain', 'text/uri-list'])).toBe(false);
    expect(carriesFiles(undefined)).toBe(false);
  });

  it('takes the one image among the dropped files, or a lone file of any name', () => {
    expect(pickDroppedFile([f('SHA256SUMS'), f('debian.ISO')])).toEqual({ file: f('debian.ISO') });
    expect(pickDroppedFile([f('notes.txt')])).toEqual({ file: f('notes.txt') });
  });

  it('explains empty drops, several images and no image among several files', () => {
    expect(pickDroppedFile([])).toEqual({ problem: expect.stringContaining('Nothing to use') as unknown });
    expect(pickDroppedFile([f('a.iso'), f('b.img')])).toEqual({
      problem: '2 images were dropped. Drop one installer image at a time.',
    });
    expect(pickDroppedFile([f('a.txt'), f('b.txt')])).toEqual({
      problem: 'None of the dropped files is an installer image (.iso or .img).',
    });
  });
});

describe('the upload progress line', () => {
  it('tells bytes, percent and speed once it means something', () => {
    expect(percent(0, 0)).toBe(0);
    expect(percent(999, 1000)).toBe(99);
    expect(speed(1000, 100)).toBeNull();
    expect(progressText(5 * 2 ** 20, 20 * 2 ** 20, 2000)).toBe('5 MiB of 20 MiB (25 %) · 2.5 MiB/s');
    expect(progressText(0, 2 ** 30, 0)).toBe('0 bytes of 1 GiB (0 %)');
  });
});
