import { VmdeskError } from '../common/errors.js';

/** Runs `fn` and returns the VmdeskError it throws; fails the test if it throws nothing or something else. */
export function thrown(fn: () => unknown): VmdeskError {
  try {
    fn();
  } catch (err) {
    if (err instanceof VmdeskError) return err;
    throw err;
  }
  throw new Error('expected a VmdeskError, got none');
}
