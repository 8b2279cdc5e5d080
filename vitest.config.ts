import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts'],
    // Two cores on CI: keep one for the processes that integration tests start.
    maxWorkers: 2,
    testTimeout: 30_000,
  },
});
