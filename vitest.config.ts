import { defineConfig } from 'vitest/config';

// Two projects: fast unit tests next to the sources, and integration tests that boot the tiny
// test guest under real QEMU (TCG). Integration files run one at a time: the machine has two
// cores and every guest is a full emulated PC.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['app/**/*.test.ts', 'scripts/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', 'node_modules/**'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['app/**/*.int.test.ts', 'e2e/**/*.int.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 600_000,
          fileParallelism: false,
          globalSetup: ['e2e/support/build-setup.ts', 'e2e/guest/global-setup.ts'],
        },
      },
    ],
  },
});
