/**
 * Limits on the shape of a request's params, checked before anything recursive touches them
 * (schema validation, JSON.stringify for a log line or for forwarding to the owner process). A
 * request nested 50 000 levels deep would otherwise overflow the stack in whichever of those runs
 * first, and the caller would never learn which of its requests failed.
 *
 * The walk is iterative and stops at the first limit crossed, so it is cheap on hostile input and
 * terminates on cycles (the Electron transport carries structured clones, which may have them).
 * No imports: every transport and the renderer may use it.
 */

/** The deepest real call (vm.define's forwards) is 4 levels; anything near this is not a call. */
export const MAX_PARAM_DEPTH = 32;
/**
 * Values (objects, arrays, and what they hold) in one request. A define with 64 forwards has ~400;
 * this is far above, so an oversized list gets the schema's own sentence ("at most 64 port
 * forwards") rather than this one, and still bounds the work on a 1 MiB line (≤ 500 000 values).
 */
export const MAX_PARAM_VALUES = 100_000;

/** Why `value` is too deep or too big to be a request's params, or undefined. */
export function paramsShapeProblem(value: unknown): string | undefined {
  const stack: [unknown, number][] = [[value, 1]];
  let values = 0;
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (++values > MAX_PARAM_VALUES) return `The arguments hold more than ${MAX_PARAM_VALUES} values.`;
    if (typeof item !== 'object' || item === null) continue;
    if (depth > MAX_PARAM_DEPTH) return `The arguments are nested more than ${MAX_PARAM_DEPTH} levels deep.`;
    const children = Array.isArray(item) ? item : Object.values(item);
    if (values + stack.length + children.length > MAX_PARAM_VALUES)
      return `The arguments hold more than ${MAX_PARAM_VALUES} values.`;
    for (const child of children) stack.push([child, depth + 1]);
  }
  return undefined;
}

/** JSON for a log line, at most `max` characters; never throws (cycles, BigInt, depth). */
export function logPreview(value: unknown, max = 500): string {
  if (paramsShapeProblem(value) !== undefined) return '(too deep or too large to show)';
  try {
    return String(JSON.stringify(value)).slice(0, max);
  } catch (err) {
    return `(cannot be shown: ${(err as Error).message.slice(0, 100)})`;
  }
}
