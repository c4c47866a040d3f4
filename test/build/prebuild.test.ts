// The way users get the binary: prebuildify (`npm run prebuild`) makes prebuilds/<platform>-<arch>/,
// `npm pack` ships it with dist/, and `npm install` of the tarball then needs no compiler; without
// a prebuild the install script (node-gyp-build) falls back to compiling with node-gyp.
//
// Everything runs on a copy of the package in a temporary directory (node_modules linked), so the
// repository's own build/, dist/ and prebuilds/ are never touched while other test files use them.
// The install timings are printed for the release notes.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const platformDir = `${process.platform}-${process.arch}`;
const STEP_TIMEOUT = 10 * 60_000;

// Settings a nested npm may keep from the environment (where the user configured them); every
// other npm_* variable describes the *outer* npm run (its package, prefix, lifecycle event) and
// would point the nested npm at the repository instead of the temporary project.
const KEEP_NPM_ENV = new Set([
  'npm_config_nodedir',
  'npm_config_cache',
  'npm_config_registry',
  'npm_config_cafile',
  'npm_config_userconfig',
  'npm_config_globalconfig',
]);

function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.toLowerCase().startsWith('npm_') && !KEEP_NPM_ENV.has(k.toLowerCase())) continue;
    if (k === 'PREBUILDS_ONLY' || k === 'RNNX_BINARY' || k === 'RNNX_PREBUILD' || k === 'INIT_CWD') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

interface RunResult {
  code: number | null;
  output: string;
  seconds: number;
}

function run(cmd: string, args: string[], cwd: string, extraEnv: Record<string, string> = {}): Promise<RunResult> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: childEnv(extraEnv), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, output, seconds: Number(process.hrtime.bigint() - started) / 1e9 }),
    );
  });
}

async function mustRun(cmd: string, args: string[], cwd: string, extraEnv: Record<string, string> = {}) {
  const r = await run(cmd, args, cwd, extraEnv);
  if (r.code !== 0) {
    throw new Error(`\`${cmd} ${args.join(' ')}\` in ${cwd} exited with ${r.code}:\n${r.output.slice(-8000)}`);
  }
  return r;
}

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const timings: { what: string; seconds: number }[] = [];
const sizes: string[] = [];
const kib = (file: string) => `${(fs.statSync(file).size / 1024).toFixed(0)} KiB`;

// One LSTM forward through the installed package, plus which binary node-gyp-build picked.
const SMOKE = `
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { LSTM, Tensor } from 'rnnx';
const require = createRequire(import.meta.url);
const pkgDir = path.dirname(require.resolve('rnnx/package.json'));
const binary = require('node-gyp-build').resolve(pkgDir);
const lstm = new LSTM({ inputSize: 3, hiddenSize: 4 });
const x = new Tensor(new Float32Array(6).fill(0.5), [2, 1, 3]);
const r = lstm.forward(x);
const result = { binary, shape: r.output.shape, finite: Array.from(r.output.data).every(Number.isFinite) };
lstm.dispose();
console.log(JSON.stringify(result));
`;

async function smoke(app: string): Promise<{ binary: string; shape: number[]; finite: boolean }> {
  const r = await mustRun(process.execPath, ['--input-type=module', '-e', SMOKE], app);
  const line = r.output.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as { binary: string; shape: number[]; finite: boolean };
}

async function newApp(name: string): Promise<string> {
  const app = path.join(work, name);
  fs.mkdirSync(app, { recursive: true });
  fs.writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: `rnnx-smoke-${name}`, version: '1.0.0', private: true, type: 'module' }, null, 2),
  );
  return app;
}

async function pack(dest: string): Promise<string> {
  fs.mkdirSync(dest, { recursive: true });
  await mustRun(npm, ['pack', '--pack-destination', dest], pkg);
  const tgz = fs.readdirSync(dest).filter((f) => f.endsWith('.tgz'));
  expect(tgz).toHaveLength(1);
  const file = path.join(dest, tgz[0]!);
  sizes.push(`${path.basename(dest)}/${tgz[0]}: ${kib(file)}`);
  return file;
}

async function listTarball(tgz: string): Promise<string[]> {
  const r = await mustRun('tar', ['tzf', tgz], work);
  return r.output.split('\n').filter(Boolean);
}

const INSTALL_FLAGS = ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'];

let work = '';
let pkg = '';

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnx-pack-'));
  pkg = path.join(work, 'pkg');
  const skip = new Set(['node_modules', '.git', 'dist', 'prebuilds', 'test', 'bench', '.devnode']);
  fs.cpSync(root, pkg, {
    recursive: true,
    filter: (src) => {
      const rel = path.relative(root, src);
      if (rel === '') return true;
      const top = rel.split(path.sep)[0]!;
      return !skip.has(top) && !top.startsWith('build') && !rel.endsWith('.tgz');
    },
  });
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(pkg, 'node_modules'), 'dir');
});

afterAll(() => {
  if (timings.length) {
    console.log(
      ['install / build timings (s):', ...timings.map((t) => `  ${t.what.padEnd(58)} ${t.seconds.toFixed(1)}`)].join('\n'),
    );
  }
  if (sizes.length) console.log(['sizes:', ...sizes.map((s) => `  ${s}`)].join('\n'));
  if (work && !process.env.RNNX_KEEP_TMP) fs.rmSync(work, { recursive: true, force: true });
});

describe.sequential('prebuilt binaries and the npm package', () => {
  it(
    'prebuildify makes a prebuild that loads with PREBUILDS_ONLY=1',
    async () => {
      const r = await mustRun(npm, ['run', 'prebuild'], pkg);
      timings.push({ what: 'npm run prebuild (prebuildify --napi --strip)', seconds: r.seconds });
      const dir = path.join(pkg, 'prebuilds', platformDir);
      const files = fs.readdirSync(dir).filter((f) => f.endsWith('.node'));
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) sizes.push(`prebuilds/${platformDir}/${f}: ${kib(path.join(dir, f))}`);

      // A child process, so a bad binary cannot take the test runner down.
      const load = await mustRun(
        process.execPath,
        [
          '-e',
          `const load = require('node-gyp-build');
           const file = load.resolve(process.cwd());
           const b = load(process.cwd());
           console.log(JSON.stringify({ file, cpu: b.cpuInfo() }));`,
        ],
        pkg,
        { PREBUILDS_ONLY: '1' },
      );
      const info = JSON.parse(load.output.trim().split('\n').pop() ?? '') as {
        file: string;
        cpu: { selected: string; compiled: string[]; supported: string[] };
      };
      expect(info.file).toContain(path.join('prebuilds', platformDir));
      expect(info.cpu.compiled).toContain('scalar');
      expect(info.cpu.supported).toContain(info.cpu.selected);
    },
    STEP_TIMEOUT,
  );

  it(
    'npm pack ships dist/ and the prebuild; the tarball installs and runs without compiling',
    async () => {
      const tgz = await pack(path.join(work, 'with-prebuild'));
      const entries = await listTarball(tgz);
      for (const f of ['package/package.json', 'package/dist/index.js', 'package/dist/index.d.ts',
        'package/binding.gyp', 'package/native/sources.json', 'package/scripts/list-sources.mjs']) {
        expect(entries, f).toContain(f);
      }
      expect(entries.some((e) => e.startsWith(`package/prebuilds/${platformDir}/`) && e.endsWith('.node'))).toBe(true);
      expect(entries.some((e) => e.startsWith('package/build/'))).toBe(false);

      // --ignore-scripts: nothing may need compiling.
      const app1 = await newApp('ignore-scripts');
      const i1 = await mustRun(npm, [...INSTALL_FLAGS, '--ignore-scripts', tgz], app1);
      timings.push({ what: 'npm install --ignore-scripts <tgz with prebuild>', seconds: i1.seconds });
      const s1 = await smoke(app1);
      expect(s1.binary).toContain(path.join('prebuilds', platformDir));
      expect(s1.shape).toEqual([2, 1, 4]);
      expect(s1.finite).toBe(true);

      // With install scripts: node-gyp-build finds the prebuild and builds nothing.
      const app2 = await newApp('with-scripts');
      const i2 = await mustRun(npm, [...INSTALL_FLAGS, tgz], app2);
      timings.push({ what: 'npm install <tgz with prebuild> (install script runs)', seconds: i2.seconds });
      expect(fs.existsSync(path.join(app2, 'node_modules', 'rnnx', 'build'))).toBe(false);
      const s2 = await smoke(app2);
      expect(s2.binary).toContain(path.join('prebuilds', platformDir));
      expect(s2.shape).toEqual([2, 1, 4]);
    },
    STEP_TIMEOUT,
  );

  it(
    'without a prebuild, npm install compiles the addon with node-gyp',
    async () => {
      fs.rmSync(path.join(pkg, 'prebuilds'), { recursive: true, force: true });
      const tgz = await pack(path.join(work, 'without-prebuild'));
      const entries = await listTarball(tgz);
      expect(entries.some((e) => e.startsWith('package/prebuilds/'))).toBe(false);

      const app = await newApp('compile');
      const r = await mustRun(npm, [...INSTALL_FLAGS, tgz], app);
      timings.push({
        what: `npm install <tgz without prebuild> (node-gyp, JOBS=${process.env.JOBS ?? 'unset'})`,
        seconds: r.seconds,
      });
      const built = path.join(app, 'node_modules', 'rnnx', 'build', 'Release', 'rnnx.node');
      expect(fs.existsSync(built)).toBe(true);
      const s = await smoke(app);
      expect(s.binary).toBe(built);
      expect(s.shape).toEqual([2, 1, 4]);
      expect(s.finite).toBe(true);
    },
    STEP_TIMEOUT,
  );
});
