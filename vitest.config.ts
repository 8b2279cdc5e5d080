import { defineConfig } from 'vitest/config';

const include = ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts'];
// Tests against a real Kafka broker: their project starts one broker per run (and only
// when one of its files is selected), and runs its files one at a time.
const kafkaTests = ['packages/*/test/**/*.kafka.test.ts', 'apps/*/test/**/*.kafka.test.ts'];

export default defineConfig({
  test: {
    // Two cores on CI: keep one for the processes that integration tests start.
    maxWorkers: 2,
    testTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'unit', include, exclude: kafkaTests } },
      {
        extends: true,
        test: { name: 'kafka', include: kafkaTests, globalSetup: ['scripts/kafka/vitest-global-setup.js'], fileParallelism: false, testTimeout: 120_000, hookTimeout: 120_000 },
      },
    ],
  },
});
