// Temporary directories that are removed when the test process exits (each test file runs in its
// own forked process), so repeated runs do not fill the temp folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];
let hooked = false;

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const m of made) rmSync(m, { recursive: true, force: true });
    });
  }
  return d;
}
