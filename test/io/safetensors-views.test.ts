// In-place weight views: readSafetensors reads a file once into one buffer, and entryToFloat32
// returns Float32Arrays over that buffer (no copy) when the tensor is F32 and 4-byte aligned, a
// copy otherwise; either way the values are those of the file, bit for bit.
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type SafetensorsFile,
  entryToFloat32,
  entryToFloat64,
  entryToInt32,
  readSafetensors,
  readSafetensorsSync,
  serializeSafetensors,
} from '../../lib/io/safetensors.js';

const layers = join(dirname(fileURLToPath(import.meta.url)), '../../../shared/fixtures/layers');
const files = readdirSync(layers)
  .filter((f) => f.endsWith('.safetensors'))
  .sort()
  .map((f) => join(layers, f));
const work = mkdtempSync(join(tmpdir(), 'rnnx-views-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Decodes F32 bytes of `file` at [abs, abs + 4n) with a DataView: the reference, always a copy. */
function decodeF32(file: Uint8Array, abs: number, n: number): Uint32Array {
  const dv = new DataView(file.buffer, file.byteOffset);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getUint32(abs + 4 * i, true);
  return out;
}

function dataStart(file: Uint8Array): number {
  return 8 + Number(new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true));
}

/**
 * Checks every tensor of `parsed` is a view of one shared buffer in which the file starts at
 * `fileStart`, and that each F32 tensor converts to a view (no copy) with the file's exact bits.
 */
function checkViews(parsed: SafetensorsFile, path: string, fileStart: number): void {
  const file = new Uint8Array(readFileSync(path));
  const start = dataStart(file);
  let shared: ArrayBufferLike | undefined;
  let n = 0;
  for (const e of parsed.tensors.values()) {
    shared ??= e.bytes.buffer;
    expect(e.bytes.buffer).toBe(shared);
    if (e.dtype !== 'F32') continue;
    const v = entryToFloat32(e);
    expect(v.buffer).toBe(shared); // no copy
    expect(v.byteOffset).toBe(e.bytes.byteOffset);
    expect(v.length).toBe(e.bytes.length / 4);
    expect(e.bytes.byteOffset - fileStart).toBeGreaterThanOrEqual(start);
    // identical bits (NaN payloads and -0 included)
    expect(new Uint32Array(v.buffer, v.byteOffset, v.length)).toEqual(decodeF32(file, e.bytes.byteOffset - fileStart, v.length));
    n++;
  }
  expect(n).toBeGreaterThan(0);
}

describe('safetensors in-place weight views', () => {
  it('readSafetensors: one buffer per file, exactly the file; F32 weights are views of it', async () => {
    for (const path of files) {
      const parsed = await readSafetensors(path);
      const first = parsed.tensors.values().next().value as { bytes: Uint8Array };
      const buf = first.bytes.buffer;
      // read once, into a buffer of the file's size (no second whole-file copy kept around)
      expect(buf.byteLength).toBe(statSync(path).size);
      checkViews(parsed, path, 0);
    }
  });

  it('readSafetensorsSync: the same views', () => {
    for (const path of files) {
      const parsed = readSafetensorsSync(path);
      const first = parsed.tensors.values().next().value as { bytes: Uint8Array };
      const size = statSync(path).size;
      const buf = first.bytes.buffer;
      // readFileSync may place small files in Node's shared pool: find where the file starts
      const whole = new Uint8Array(readFileSync(path));
      const u8 = new Uint8Array(buf);
      let at = -1;
      for (let o = 0; o + size <= u8.length && at < 0; o += 8) {
        if (u8[o] === whole[0] && Buffer.compare(u8.subarray(o, o + size), whole) === 0) at = o;
      }
      expect(at).toBeGreaterThanOrEqual(0);
      checkViews(parsed, path, at);
    }
  });

  it('weights of a loaded file keep matching after other reads (views are of private buffers)', async () => {
    const a = await readSafetensors(files[0]!);
    const b = await readSafetensors(files[0]!);
    const ea = a.tensors.get('weight_ih_l0')!;
    const eb = b.tensors.get('weight_ih_l0')!;
    const va = entryToFloat32(ea);
    const vb = entryToFloat32(eb);
    expect(va.buffer).not.toBe(vb.buffer);
    expect(Array.from(va)).toEqual(Array.from(vb));
  });

  it('copies (with identical values) when the data section is not 4-byte aligned', async () => {
    const w = Float32Array.from({ length: 37 }, (_, i) => Math.sin(i) * 1e3 + (i === 5 ? -0 : 0));
    w[7] = NaN;
    w[8] = Infinity;
    const aligned = serializeSafetensors({ w: { dtype: 'F32', shape: [37], data: w }, d: { dtype: 'F64', shape: [2], data: Float64Array.of(1.25, -3) } });
    // the same file with 2 more header bytes (JSON whitespace): the data section moves by 2
    const hl = Number(new DataView(aligned.buffer).getBigUint64(0, true));
    const shifted = new Uint8Array(aligned.length + 2);
    new DataView(shifted.buffer).setBigUint64(0, BigInt(hl + 2), true);
    shifted.set(aligned.subarray(8, 8 + hl), 8);
    shifted[8 + hl] = 0x20;
    shifted[8 + hl + 1] = 0x20;
    shifted.set(aligned.subarray(8 + hl), 8 + hl + 2);
    const pa = join(work, 'aligned.safetensors');
    const pb = join(work, 'shifted.safetensors');
    writeFileSync(pa, aligned);
    writeFileSync(pb, shifted);
    const A = await readSafetensors(pa);
    const B = await readSafetensors(pb);
    const va = entryToFloat32(A.tensors.get('w')!);
    const vb = entryToFloat32(B.tensors.get('w')!);
    expect(va.buffer).toBe(A.tensors.get('w')!.bytes.buffer); // view
    expect(vb.buffer).not.toBe(B.tensors.get('w')!.bytes.buffer); // copy
    expect(vb.byteOffset % 4).toBe(0);
    expect(new Uint32Array(vb.buffer, vb.byteOffset, vb.length)).toEqual(new Uint32Array(w.buffer));
    expect(new Uint32Array(va.buffer, va.byteOffset, va.length)).toEqual(new Uint32Array(w.buffer));
    // F64 converts (a copy), the same in both files
    expect(Array.from(entryToFloat32(A.tensors.get('d')!))).toEqual([1.25, -3]);
    expect(Array.from(entryToFloat32(B.tensors.get('d')!))).toEqual([1.25, -3]);
    expect(Array.from(entryToFloat64(B.tensors.get('d')!))).toEqual([1.25, -3]);
  });

  it('a large file costs one file-sized buffer, not two', async () => {
    const n = 8 * 1024 * 1024; // 32 MB of F32
    const w = new Float32Array(n);
    for (let i = 0; i < n; i += 4099) w[i] = i;
    const path = join(work, 'big.safetensors');
    writeFileSync(path, serializeSafetensors({ w: { dtype: 'F32', shape: [n], data: w }, len: { dtype: 'I32', shape: [1], data: Int32Array.of(n) } }));
    const size = statSync(path).size;
    const before = process.memoryUsage().arrayBuffers;
    const parsed = await readSafetensors(path);
    const v = entryToFloat32(parsed.tensors.get('w')!);
    const lens = entryToInt32(parsed.tensors.get('len')!);
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(grown).toBeLessThan(size * 1.5);
    expect(v.buffer.byteLength).toBe(size);
    expect(lens.buffer).toBe(v.buffer);
    expect(v[4099 * 7]).toBe(4099 * 7);
    expect(lens[0]).toBe(n);
  });
});
