/**
 * Golden files (virt-manager's `diff_compare` with `--regenerate-output`): the output of a pure
 * function pinned in a file next to the test and reviewed like code. A missing golden file fails
 * the test, in CI and locally alike: a test that writes its own expectation and passes checks
 * nothing. After an intended change, regenerate and read the diff:
 *
 *   UPDATE_GOLDENS=1 npx vitest run path/to/the.test.ts && git diff -- path/to/golden
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';

export const UPDATE_ENV = 'UPDATE_GOLDENS';

export type GoldenResult = { status: 'match' | 'written' } | { status: 'differs'; expected: string };

/**
 * Compares `actual` with the golden `file`, or (with UPDATE_GOLDENS=1) writes it.
 * MUST throw, naming UPDATE_GOLDENS=1, when the file is missing and updating is off, and MUST
 * refuse to update under CI (it would accept any output).
 */
export function checkGolden(
  file: string,
  actual: string,
  env: Record<string, string | undefined> = process.env,
): GoldenResult {
  if (env[UPDATE_ENV] === '1') {
    if (env.CI)
      throw new Error(
        `${UPDATE_ENV}=1 is refused under CI: it would accept any output. Regenerate locally and commit the golden files.`,
      );
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, actual);
    return { status: 'written' };
  }
  let expected: string;
  try {
    expected = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    throw new Error(
      `The golden file ${file} is missing. Run the test with ${UPDATE_ENV}=1 to write it, then review it like code.`,
    );
  }
  return expected === actual ? { status: 'match' } : { status: 'differs', expected };
}

/** The vitest assertion over checkGolden: a difference fails with the diff and how to regenerate. */
export function expectGolden(file: string, actual: string): void {
  const r = checkGolden(file, actual);
  if (r.status === 'differs') {
    expect(actual, `${file} differs; if the change is intended, rerun with ${UPDATE_ENV}=1 and review the diff`).toBe(
      r.expected,
    );
  }
}
