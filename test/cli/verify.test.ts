// `rnnx verify` and `rnnx info` as a user runs them (through bin/rnnx.js and dist/, built by `npm test`).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const bin = join(root, 'bin/rnnx.js');
const shared = join(root, '../shared/fixtures/layers');
const extra = join(root, 'test/fixtures/layers');
const list = (d: string) => readdirSync(d).filter((f) => f.endsWith('.safetensors')).map((f) => join(d, f));

function rnnx(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000 });
}

describe('rnnx verify', () => {
  it('passes every layer fixture (shared and extra) and prints one JSON object per fixture', () => {
    const files = [...list(shared), ...list(extra)];
    const r = rnnx('verify', ...files);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(files.length);
    for (const l of lines) {
      expect(Object.keys(l)).toEqual(['fixture', 'ok', 'forward_rel_err', 'grad_rel_err']);
      expect(l.ok).toBe(true);
      expect(l.forward_rel_err).toBeLessThanOrEqual(1e-5);
      expect(l.grad_rel_err).toBeLessThanOrEqual(1e-4);
    }
    expect(lines.map((l) => l.fixture)).toContain('gru_long');
  });

  it('exits 1 when a fixture is wrong: a perturbed expectation fails, a truncated file is reported', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rnnx-verify-'));
    const src = join(shared, 'lstm_basic.safetensors');
    // perturb one expected output value by 1% of the largest
    const buf = Buffer.from(readFileSync(src));
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
    const [begin] = header['expected.output'].data_offsets as [number, number];
    const at = 8 + n + begin;
    buf.writeDoubleLE(buf.readDoubleLE(at) + 0.05, at);
    const bad = join(dir, 'lstm_perturbed.safetensors');
    writeFileSync(bad, buf);
    const trunc = join(dir, 'lstm_truncated.safetensors');
    writeFileSync(trunc, readFileSync(src).subarray(0, 100));
    const good = join(dir, 'lstm_basic.safetensors');
    copyFileSync(src, good);
    const r = rnnx('verify', good, bad, trunc);
    expect(r.status).toBe(1);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[0].ok).toBe(true);
    expect(lines[1].ok).toBe(false);
    expect(lines[1].forward_rel_err).toBeGreaterThan(1e-5);
    expect(lines[2].ok).toBe(false);
    expect(lines[2].error).toMatch(/lstm_truncated/);
  });

  it('runs the ONNX fixtures (NAME.onnx with NAME.io.safetensors, either path named, verified once)', () => {
    const dir = join(root, '../shared/fixtures/onnx');
    const all = readdirSync(dir).map((f) => join(dir, f));
    const r = rnnx('verify', ...all);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.fixture).sort()).toEqual(
      readdirSync(dir).filter((f) => f.endsWith('.onnx')).map((f) => f.replace(/\.onnx$/, '')).sort(),
    );
    for (const l of lines) {
      expect(l.ok, l.fixture).toBe(true);
      expect(l.forward_rel_err).toBeLessThanOrEqual(1e-5);
      expect(l.grad_rel_err).toBeNull();
    }
  });

  it('runs the tfjs / Keras fixture folders', () => {
    const dir = join(root, '../shared/fixtures/tfjs');
    const folders = readdirSync(dir).map((f) => join(dir, f));
    const r = rnnx('verify', ...folders);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(folders.length);
    expect(lines.map((l) => l.fixture)).toContain('keras_gru_reset_after');
    for (const l of lines) {
      expect(l.ok, l.fixture).toBe(true);
      expect(l.forward_rel_err).toBeLessThanOrEqual(1e-5);
    }
  });

  it('refuses --device cuda on a build without CUDA, with the reason', () => {
    const r = rnnx('verify', '--device', 'cuda', join(shared, 'gru_basic.safetensors'));
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout.trim()).error).toMatch(/CUDA/);
  });
});

describe('rnnx info', () => {
  it('--json reports version, ISA selected/supported/compiled, threads and CUDA status', () => {
    const r = rnnx('info', '--json');
    expect(r.status).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.cpu.compiled).toContain('scalar');
    expect(info.cpu.supported).toContain(info.cpu.selected);
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(info.cuda.compiled).toBe(false);
    expect(info.cuda.available).toBe(false);
    expect(info.cuda.reason).toMatch(/without CUDA/);
  });
});
