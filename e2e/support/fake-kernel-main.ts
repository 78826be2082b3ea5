/** Entry point of the fake kernel for the fake pkexec (bundled by e2e/support/fake-pkexec.ts). */
import { applyKernelWrites } from '../../app/main/mdev/fixtures/fake-kernel.js';

applyKernelWrites(process.argv[2]!);
