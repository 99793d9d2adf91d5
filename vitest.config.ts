import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['api/**/*.test.ts', 'core/**/*.test.ts', 'trainer/**/*.test.ts', 'cli/**/*.test.ts', 'eval/**/*.test.ts', 'scripts/**/*.test.ts', 'console/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
