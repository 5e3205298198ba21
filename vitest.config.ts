import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    // Kernel tests share the host's netns machinery; they serialise themselves per file.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
