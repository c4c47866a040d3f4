// GC finalizers free native memory: modules, tapes and streams dropped without dispose() are
// freed once collected, and memory stays flat over 100k calls. Runs in a child process started
// with --expose-gc (helpers/gc-child.mjs), loading the same rnnx.node as this process.
import { describe, expect, it } from 'vitest';

import { runChild } from './helpers/native.js';

describe('GC finalizers', () => {
  it('free everything dropped without dispose; RSS stays flat over 100k calls', () => {
    const r = runChild('gc-child.mjs', ['100000', '10000'], ['--expose-gc'], 300_000);
    const line = r.stdout.trim().split('\n').pop() ?? '';
    expect(r.stderr, r.stderr).toBe('');
    const result = JSON.parse(line) as {
      liveAfter: number;
      liveDuring: number;
      growthMB: number;
      externalGrowthMB: number;
      ok: boolean;
    };
    expect(result.liveAfter).toBe(0);
    expect(result.liveDuring).toBe(1);
    expect(result.growthMB).toBeLessThan(30);
    expect(result.externalGrowthMB).toBeLessThan(1);
    expect(r.status).toBe(0);
  }, 300_000);
});
