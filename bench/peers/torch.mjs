/**
 * PyTorch CPU peer (optional): drives peers/torch_peer.py, one persistent Python process per config
 * group, through JSON lines. Weights and inputs travel as raw float32 files in a temp directory.
 *
 * BLAS: Debian's PyTorch calls whatever libblas.so.3 the system selects; the reference BLAS (libblas3)
 * is ~25× slower than OpenBLAS and would make PyTorch a straw man. So the peer preloads OpenBLAS when
 * it finds it: $RNNX_BENCH_OPENBLAS (a directory holding libblas.so.3), else Debian's
 * openblas-pthread / openblas-openmp directories (package libopenblas0-pthread). As in CONFIGS.md,
 * OpenBLAS 0.3.21 is forced to its SkylakeX kernels on AVX-512 CPUs (this process only; the harness
 * checks every peer's output before timing it). --openblas-coretype NAME overrides that.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const PYTHON = process.env.RNNX_BENCH_PYTHON || '/usr/bin/python3';

/** Is `import torch` possible? (checked once by the parent; the answer travels to the children) */
export function torchAvailable() {
  if (!existsSync(PYTHON)) return { ok: false, why: `${PYTHON} not found` };
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) return { ok: false, why: `import torch failed: ${(r.stderr || '').trim().split('\n').pop()}` };
  return { ok: true, version: r.stdout.trim() };
}

function findOpenBlas() {
  const cands = [
    process.env.RNNX_BENCH_OPENBLAS,
    '/usr/lib/x86_64-linux-gnu/openblas-pthread',
    '/usr/lib/x86_64-linux-gnu/openblas-openmp',
    '/usr/lib/aarch64-linux-gnu/openblas-pthread',
  ].filter(Boolean);
  return cands.find((d) => existsSync(path.join(d, 'libblas.so.3'))) ?? null;
}

function hasAvx512() {
  try {
    return /\bavx512f\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

export class TorchPeer {
  /** Starts the Python process; resolves with its info line ({torch, blas, ...}). */
  static async start({ coretype } = {}) {
    const env = { ...process.env };
    const blasDir = findOpenBlas();
    if (blasDir) {
      env.LD_LIBRARY_PATH = [blasDir, env.LD_LIBRARY_PATH].filter(Boolean).join(':');
      const ct = coretype ?? (hasAvx512() ? 'SkylakeX' : undefined);
      if (ct) {
        env.OPENBLAS_CORETYPE = ct;
        delete env.OPENBLAS_L2_SIZE; // the two go together (env README): a forced core type with its own cache size
      }
    }
    env.OMP_NUM_THREADS ??= String(os.availableParallelism());
    const proc = spawn(PYTHON, [path.join(HERE, 'torch_peer.py')], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const peer = new TorchPeer(proc);
    peer.info = await peer.next();
    peer.info.openblasDir = blasDir;
    return peer;
  }

  constructor(proc) {
    this.proc = proc;
    this.lines = [];
    this.waiters = [];
    this.stderr = '';
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'rnnx-bench-torch-'));
    proc.stderr.on('data', (d) => {
      this.stderr = (this.stderr + d).slice(-4000);
    });
    const rl = readline.createInterface({ input: proc.stdout });
    rl.on('line', (l) => {
      const w = this.waiters.shift();
      if (w) w.resolve(l);
      else this.lines.push(l);
    });
    proc.on('exit', (code) => {
      for (const w of this.waiters.splice(0)) w.reject(new Error(`torch peer exited (${code}): ${this.stderr.trim().split('\n').slice(-3).join(' | ')}`));
      this.exited = true;
    });
  }

  next() {
    if (this.lines.length) return Promise.resolve(JSON.parse(this.lines.shift()));
    if (this.exited) return Promise.reject(new Error(`torch peer exited: ${this.stderr.trim().split('\n').pop()}`));
    return new Promise((resolve, reject) => this.waiters.push({ resolve: (l) => resolve(JSON.parse(l)), reject }));
  }

  /**
   * Runs one trial: `sd` PyTorch state dict (Float32Arrays), `x` [T, B, I]. Returns
   * { times: { threads: { medianMs, samples } }, outputs: { name: Float32Array } }.
   */
  async run(trial, sd, x, { threads, budgetMs, checkSteps = 4 }) {
    const dir = mkdtempSync(path.join(this.dir, `${trial.id}-`));
    for (const [k, v] of Object.entries(sd)) writeFileSync(path.join(dir, `${k}.bin`), Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    writeFileSync(path.join(dir, 'x.bin'), Buffer.from(x.buffer, x.byteOffset, x.byteLength));
    const job = { cell: trial.cell, I: trial.I, H: trial.H, B: trial.B, T: trial.T, mode: trial.mode, needs: trial.needs, dir, threads, budget_ms: budgetMs, check_steps: checkSteps };
    this.proc.stdin.write(`${JSON.stringify(job)}\n`);
    const ans = await this.next();
    if (!ans.ok) throw new Error(ans.error);
    const outputs = {};
    for (const [k, file] of Object.entries(ans.outputs)) {
      const b = readFileSync(file);
      outputs[k] = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4).slice();
    }
    rmSync(dir, { recursive: true, force: true });
    const times = {};
    for (const [n, t] of Object.entries(ans.times)) times[n] = { medianMs: t.median_ms, samples: t.samples };
    return { times, outputs };
  }

  close() {
    try {
      this.proc.stdin.end();
    } catch {}
    rmSync(this.dir, { recursive: true, force: true });
  }
}
