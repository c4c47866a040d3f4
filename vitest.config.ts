import { defineConfig } from 'vitest/config';

// Test files that load the native addon run in forked child processes, so a native crash fails
// that file instead of the whole run (node-llama-cpp's setup). Timeouts are generous: the machine
// CI runs on has 2 cores, and some tests compile or spawn processes.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
