import { describe, expect, it } from 'vitest';
import { enabledActions, isActionEnabled } from './vm-actions.js';

describe('toolbar actions per state', () => {
  it.each([
    ['stopped', ['start', 'delete']],
    ['crashed', ['start', 'delete']],
    ['running', ['shutdown', 'stop', 'pause', 'reboot']],
    ['paused', ['stop', 'resume', 'reboot']],
    ['starting', ['stop']],
    ['stopping', ['stop']],
    ['broken', ['delete']],
  ] as const)('a %s VM offers %j', (state, actions) => {
    expect(enabledActions(state)).toEqual(actions);
  });

  it('never offers to delete a VM that still runs', () => {
    for (const s of ['running', 'paused', 'starting', 'stopping'] as const)
      expect(isActionEnabled('delete', s)).toBe(false);
  });
});
