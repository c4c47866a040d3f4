import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe as suite, expect, it } from 'vitest';
import { InvalidArgumentError, ModelFormatError, ShapeError } from '../../lib/errors.js';
import { writeFileAtomic, writeFileAtomicSync } from '../../lib/io/atomicWrite.js';
import {
  MAX_HEADER_BYTES,
  SAFETENSORS_DTYPE_SIZES,
  entryToFloat32,
  entryToFloat64,
  entryToInt32,
  entryToTensor,
  parseSafetensors,
  readSafetensors,
  readSafetensorsSync,
  serializeSafetensors,
  writeSafetensors,
  writeSafetensorsSync,
  type SafetensorsEntry,
} from '../../lib/io/safetensors.js';
import { Tensor } from '../../lib/tensor.js';
import { mulberry32 } from '../../lib/random.js';

const FIXTURE = '/work/shared/fixtures/layers/lstm_proj.safetensors';
const FILE = 'test.safetensors';

const tmpRoot = mkdtempSync(join(tmpdir(), 'rnnx-st-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

/** A file from a header (object or raw JSON text) and a data section. */
function build(header: unknown, data: Uint8Array | number = 0, headerLen?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, headerLen ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

/** Expects parse to throw a ModelFormatError naming the file; returns its reason. */
function formatError(buf: Uint8Array, file = FILE): ModelFormatError {
  try {
    parseSafetensors(buf, file);
  } catch (e) {
    expect(e).toBeInstanceOf(ModelFormatError);
    const err = e as ModelFormatError;
    expect(err.code).toBe('RNNX_MODEL_FORMAT');
    expect(err.file).toBe(file);
    expect(err.message).toBe(`Invalid model file ${file}: ${err.reason}`);
    return err;
  }
  throw new Error('expected parse to fail');
}

function entry(dtype: string, shape: number[], bytes: Uint8Array, name = 't'): SafetensorsEntry {
  return { name, dtype, shape, bytes, file: FILE };
}

/** Little-endian bytes of each value written with setter. */
function leBytes(n: number, size: number, set: (dv: DataView, off: number, i: number) => void): Uint8Array {
  const out = new Uint8Array(n * size);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < n; i++) set(dv, i * size, i);
  return out;
}

suite('the real fixture', () => {
  const file = readSafetensorsSync(FIXTURE);

  it('has metadata with JSON-encoded values', () => {
    expect(JSON.parse(file.metadata.cell as string)).toBe('lstm');
    expect(JSON.parse(file.metadata.hidden_size as string)).toBe(8);
    expect(JSON.parse(file.metadata.proj_size as string)).toBe(3);
    expect(JSON.parse(file.metadata.bidirectional as string)).toBe(false);
    expect(JSON.parse(file.metadata.nonlinearity as string)).toBeNull();
  });

  it('has F32 weights, I64 lengths and F64 expectations', () => {
    const w = file.tensors.get('weight_ih_l0');
    expect(w).toMatchObject({ dtype: 'F32', shape: [32, 6] });
    expect(file.tensors.get('weight_hr_l0')?.shape).toEqual([3, 8]);
    expect(file.tensors.get('input')?.shape).toEqual([5, 2, 6]);
    expect(file.tensors.get('lengths')).toMatchObject({ dtype: 'I64', shape: [2] });
    expect(file.tensors.get('expected.output')).toMatchObject({ dtype: 'F64', shape: [5, 2, 3] });
    expect(file.tensors.get('expected.grad.weight_hr_l0')?.shape).toEqual([3, 8]);
    expect([...file.tensors.keys()]).toContain('expected.grad.weight_ih_l0');

    const wt = entryToTensor(w as SafetensorsEntry);
    expect(wt.dtype).toBe('float32');
    expect(wt.shape).toEqual([32, 6]);
    expect(wt.data.every((v) => Number.isFinite(v) && Math.abs(v) < 10)).toBe(true);
    // zero-copy: the weights are a view into the file buffer
    expect(wt.data.buffer).toBe((w as SafetensorsEntry).bytes.buffer);

    const lengths = entryToInt32(file.tensors.get('lengths') as SafetensorsEntry);
    expect(lengths.length).toBe(2);
    for (const len of lengths) expect(len >= 0 && len <= 5).toBe(true);
    const out = entryToTensor(file.tensors.get('expected.output') as SafetensorsEntry);
    expect(out.dtype).toBe('float64');
    expect(out.size).toBe(30);
  });

  it('reads the same asynchronously', async () => {
    const a = await readSafetensors(FIXTURE);
    expect([...a.tensors.keys()]).toEqual([...file.tensors.keys()]);
    expect(a.metadata).toEqual(file.metadata);
  });

  it('re-serializes to an equivalent file', () => {
    const tensors = new Map([...file.tensors].map(([k, e]) => [k, { dtype: e.dtype, shape: e.shape, data: e.bytes }]));
    const again = parseSafetensors(serializeSafetensors(tensors, file.metadata));
    expect(again.metadata).toEqual(file.metadata);
    for (const [k, e] of file.tensors) {
      const b = again.tensors.get(k) as SafetensorsEntry;
      expect(b.dtype).toBe(e.dtype);
      expect(b.shape).toEqual(e.shape);
      expect(Buffer.from(b.bytes).equals(Buffer.from(e.bytes))).toBe(true);
    }
  });
});

suite('round trips', () => {
  it('round-trips every dtype through serialize/parse', () => {
    const n = 5;
    const raw: Record<string, Uint8Array> = {
      F64: leBytes(n, 8, (dv, o, i) => dv.setFloat64(o, i * 1.25 - 2, true)),
      F32: leBytes(n, 4, (dv, o, i) => dv.setFloat32(o, i * 0.5 - 1, true)),
      F16: leBytes(n, 2, (dv, o, i) => dv.setUint16(o, [0x3c00, 0xc000, 0x3800, 0x0000, 0x7bff][i] as number, true)),
      BF16: leBytes(n, 2, (dv, o, i) => dv.setUint16(o, [0x3f80, 0xc000, 0x3f00, 0x8000, 0x4049][i] as number, true)),
      I64: leBytes(n, 8, (dv, o, i) => dv.setBigInt64(o, BigInt(i * 1000 - 2000), true)),
      I32: leBytes(n, 4, (dv, o, i) => dv.setInt32(o, i * -7, true)),
      I16: leBytes(n, 2, (dv, o, i) => dv.setInt16(o, i * -300, true)),
      I8: leBytes(n, 1, (dv, o, i) => dv.setInt8(o, i * -30)),
      U64: leBytes(n, 8, (dv, o, i) => dv.setBigUint64(o, BigInt(i * 3), true)),
      U32: leBytes(n, 4, (dv, o, i) => dv.setUint32(o, i * 100000, true)),
      U16: leBytes(n, 2, (dv, o, i) => dv.setUint16(o, i * 1000, true)),
      U8: leBytes(n, 1, (dv, o, i) => dv.setUint8(o, i * 50)),
      BOOL: Uint8Array.of(0, 1, 1, 0, 1),
    };
    expect(Object.keys(raw).sort()).toEqual(Object.keys(SAFETENSORS_DTYPE_SIZES).sort());
    const tensors = Object.fromEntries(
      Object.entries(raw).map(([dtype, bytes]) => [`t_${dtype}`, { dtype, shape: [n], data: bytes }]),
    );
    const buf = serializeSafetensors(tensors, { format: 'pt', note: 'ünïcode ✓' });
    // header padded with spaces to a multiple of 8
    const headerLen = Number(new DataView(buf.buffer).getBigUint64(0, true));
    expect(headerLen % 8).toBe(0);
    expect(buf[8 + headerLen - 1] === 0x20 || buf[8 + headerLen - 1] === 0x7d).toBe(true);

    const parsed = parseSafetensors(buf);
    expect(parsed.metadata).toEqual({ format: 'pt', note: 'ünïcode ✓' });
    expect([...parsed.tensors.keys()]).toEqual(Object.keys(tensors)); // insertion order
    for (const [dtype, bytes] of Object.entries(raw)) {
      const e = parsed.tensors.get(`t_${dtype}`) as SafetensorsEntry;
      expect(e.dtype).toBe(dtype);
      expect(e.shape).toEqual([n]);
      expect(Array.from(e.bytes)).toEqual(Array.from(bytes));
    }
    // values decode correctly
    const get = (d: string): SafetensorsEntry => parsed.tensors.get(`t_${d}`) as SafetensorsEntry;
    expect(Array.from(entryToFloat64(get('F64')))).toEqual([-2, -0.75, 0.5, 1.75, 3]);
    expect(Array.from(entryToFloat32(get('F32')))).toEqual([-1, -0.5, 0, 0.5, 1]);
    expect(Array.from(entryToFloat32(get('F16')))).toEqual([1, -2, 0.5, 0, 65504]);
    expect(Array.from(entryToFloat64(get('BF16')))).toEqual([1, -2, 0.5, -0, 3.140625]);
    expect(Array.from(entryToInt32(get('I64')))).toEqual([-2000, -1000, 0, 1000, 2000]);
    expect(Array.from(entryToFloat64(get('I64')))).toEqual([-2000, -1000, 0, 1000, 2000]);
    expect(Array.from(entryToInt32(get('I32')))).toEqual([0, -7, -14, -21, -28]);
    expect(Array.from(entryToInt32(get('I16')))).toEqual([0, -300, -600, -900, -1200]);
    expect(Array.from(entryToInt32(get('I8')))).toEqual([0, -30, -60, -90, -120]);
    expect(Array.from(entryToInt32(get('U64')))).toEqual([0, 3, 6, 9, 12]);
    expect(Array.from(entryToInt32(get('U32')))).toEqual([0, 100000, 200000, 300000, 400000]);
    expect(Array.from(entryToInt32(get('U16')))).toEqual([0, 1000, 2000, 3000, 4000]);
    expect(Array.from(entryToFloat32(get('U8')))).toEqual([0, 50, 100, 150, 200]);
    expect(Array.from(entryToInt32(get('BOOL')))).toEqual([0, 1, 1, 0, 1]);
  });

  it('round-trips Tensors of every tensor dtype, including empty and scalar ones', () => {
    const a = Tensor.from([[1.5, -2], [3, 4]]);
    const b = Tensor.from([1e300, -1e-300], 'float64');
    const c = Tensor.from([[1, -2, 2147483647]], 'int32');
    const empty = new Tensor(new Float32Array(0), [0, 4]);
    const scalar = Tensor.from(42, 'float64');
    // a Map keeps insertion order even for integer-like names (object literals put them first)
    const buf = serializeSafetensors(new Map<string, Tensor>([['a', a], ['b', b], ['c', c], ['empty', empty], ['scalar', scalar], ['0', a]]));
    const parsed = parseSafetensors(buf);
    // the header is written in insertion order, integer-like names included
    const headerText = new TextDecoder().decode(buf.subarray(8, 8 + Number(new DataView(buf.buffer).getBigUint64(0, true))));
    const order = ['"a"', '"b"', '"c"', '"empty"', '"scalar"', '"0"'].map((k) => headerText.indexOf(`${k}:`));
    expect(order.every((pos, i) => pos > (order[i - 1] ?? -1))).toBe(true);
    // (JS object key order puts integer-like names first when parsing)
    expect([...parsed.tensors.keys()].sort()).toEqual(['0', 'a', 'b', 'c', 'empty', 'scalar']);
    for (const [name, t] of Object.entries({ a, b, c, empty, scalar })) {
      const back = entryToTensor(parsed.tensors.get(name) as SafetensorsEntry);
      expect(back.dtype).toBe(t.dtype);
      expect(back.shape).toEqual(t.shape);
      expect(back.toArray()).toEqual(t.toArray());
    }
    expect(parsed.metadata).toEqual({});
  });

  it('returns zero-copy views when aligned and copies when not', () => {
    // F32 at offset 0 (aligned), then an I8 of 1 byte, then F32 at data offset 5 (unaligned)
    const buf = serializeSafetensors({
      a: Tensor.from([1, 2]),
      pad: { dtype: 'I8', shape: [1], data: Int8Array.of(7) },
      b: Tensor.from([3, 4]),
    });
    const p = parseSafetensors(buf);
    const a = entryToFloat32(p.tensors.get('a') as SafetensorsEntry);
    const b = entryToFloat32(p.tensors.get('b') as SafetensorsEntry);
    expect(a.buffer).toBe(buf.buffer);
    expect(b.buffer).not.toBe(buf.buffer);
    expect(Array.from(a)).toEqual([1, 2]);
    expect(Array.from(b)).toEqual([3, 4]);
    const tb = entryToTensor(p.tensors.get('b') as SafetensorsEntry, 'float64');
    expect(tb.data).toBeInstanceOf(Float64Array);
    expect(Array.from(tb.data)).toEqual([3, 4]);
    // parse does not copy: bytes are views of the input
    expect((p.tensors.get('a') as SafetensorsEntry).bytes.buffer).toBe(buf.buffer);
  });

  it('converts F16 edge values', () => {
    const bits = [0x0001, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x03ff, 0x0400];
    const e = entry('F16', [bits.length], leBytes(bits.length, 2, (dv, o, i) => dv.setUint16(o, bits[i] as number, true)));
    const v = entryToFloat64(e);
    expect(v[0]).toBe(2 ** -24);
    expect(Object.is(v[1], -0)).toBe(true);
    expect(v[2]).toBe(Infinity);
    expect(v[3]).toBe(-Infinity);
    expect(Number.isNaN(v[4])).toBe(true);
    expect(v[5]).toBe(1023 * 2 ** -24);
    expect(v[6]).toBe(2 ** -14);
  });
});

suite('converter errors', () => {
  it('range-checks I64 → int32', () => {
    const e = entry('I64', [2], leBytes(2, 8, (dv, o, i) => dv.setBigInt64(o, i === 0 ? 1n : 2n ** 31n, true)), 'lengths');
    expect(() => entryToInt32(e)).toThrow(ModelFormatError);
    expect(() => entryToInt32(e)).toThrow(`Invalid model file ${FILE}: tensor "lengths": value 2147483648 at index 1 is outside the int32 range`);
    const neg = entry('I64', [1], leBytes(1, 8, (dv, o) => dv.setBigInt64(o, -(2n ** 40n), true)));
    expect(() => entryToTensor(neg)).toThrow(ModelFormatError);
    const u32 = entry('U32', [1], leBytes(1, 4, (dv, o) => dv.setUint32(o, 2 ** 32 - 1, true)));
    expect(() => entryToInt32(u32)).toThrow(/outside the int32 range/);
    const u64 = entry('U64', [1], leBytes(1, 8, (dv, o) => dv.setBigUint64(o, 2n ** 63n, true)));
    expect(() => entryToInt32(u64)).toThrow(ModelFormatError);
  });

  it('refuses float → int32 and inconsistent entries', () => {
    expect(() => entryToInt32(entry('F32', [1], new Uint8Array(4)))).toThrow(/has dtype F32 but an integer dtype is needed/);
    expect(() => entryToFloat32(entry('F32', [2], new Uint8Array(4)))).toThrow(ModelFormatError);
    expect(() => entryToFloat32(entry('F8', [1], new Uint8Array(1)))).toThrow(ModelFormatError);
    expect(() => entryToTensor(entry('F32', [1], new Uint8Array(4)), 'int8' as never)).toThrow(InvalidArgumentError);
  });
});

suite('serialize argument errors', () => {
  it('rejects bad inputs with argument errors (not ModelFormatError)', () => {
    expect(() => serializeSafetensors({ x: { dtype: 'F32', shape: [3], data: new Float32Array(2) } })).toThrow(ShapeError);
    expect(() => serializeSafetensors({ x: { dtype: 'Q4', shape: [1], data: new Uint8Array(1) } })).toThrow(
      InvalidArgumentError,
    );
    expect(() => serializeSafetensors({ x: { dtype: 'F32', shape: [-1], data: new Uint8Array(4) } })).toThrow(
      InvalidArgumentError,
    );
    expect(() => serializeSafetensors({ __metadata__: Tensor.zeros([1]) })).toThrow(InvalidArgumentError);
    expect(() => serializeSafetensors({}, { a: 1 as unknown as string })).toThrow(InvalidArgumentError);
    expect(() => serializeSafetensors(null as never)).toThrow(InvalidArgumentError);
  });

  it('accepts tensor dtype aliases and Maps', () => {
    const buf = serializeSafetensors(new Map([['x', { dtype: 'float64', shape: [1], data: Float64Array.of(2.5) }]]));
    const e = parseSafetensors(buf).tensors.get('x') as SafetensorsEntry;
    expect(e.dtype).toBe('F64');
    expect(entryToFloat64(e)[0]).toBe(2.5);
  });
});

suite('malformed files', () => {
  const ok = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };

  it('parses the well-formed base case', () => {
    expect(parseSafetensors(build(ok, 8)).tensors.get('w')?.shape).toEqual([2]);
  });

  it.each([
    ['empty file', new Uint8Array(0), /0 bytes long/],
    ['7 bytes', new Uint8Array(7), /7 bytes long/],
    ['header length past the end', build(ok, 8, 1000n), /header length 1000 is larger than the rest of the file/],
    ['header length > 100 MiB', build(ok, 8, BigInt(MAX_HEADER_BYTES) + 1n), /exceeds the limit/],
    ['header length 2^64-1', build(ok, 8, 2n ** 64n - 1n), /exceeds the limit/],
    ['zero header length', build(ok, 8, 0n), /not valid JSON/],
    ['invalid JSON', build('{"w": ', 8), /not valid JSON/],
    ['header is an array', build([1, 2]), /must be a JSON object/],
    ['header is null', build('null'), /must be a JSON object/],
    ['header is a string', build('"abc"'), /must be a JSON object/],
    ['metadata not an object', build({ __metadata__: [1] }), /__metadata__ must be an object of strings/],
    ['metadata value not a string', build({ __metadata__: { a: 1 } }), /__metadata__ value of "a" must be a string/],
    ['entry not an object', build({ w: 5 }), /tensor "w": entry must be an object/],
    ['unknown dtype', build({ w: { dtype: 'F8', shape: [1], data_offsets: [0, 1] } }, 1), /unsupported dtype "F8"/],
    ['missing dtype', build({ w: { shape: [1], data_offsets: [0, 4] } }, 4), /unsupported dtype/],
    ['shape not an array', build({ w: { dtype: 'F32', shape: 2, data_offsets: [0, 8] } }, 8), /shape must be an array/],
    ['negative dim', build({ w: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, 8), /shape must be an array/],
    ['fractional dim', build({ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 8] } }, 8), /shape must be an array/],
    ['string dim', build({ w: { dtype: 'F32', shape: ['2'], data_offsets: [0, 8] } }, 8), /shape must be an array/],
    ['dim above 2^53', build('{"w":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]}}', 8), /shape must be an array/],
    ['product overflow', build({ w: { dtype: 'F32', shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 8] } }, 8), /too many elements/],
    ['absurd size', build({ w: { dtype: 'F64', shape: [2 ** 40], data_offsets: [0, 8] } }, 8), /needs 8796093022208 bytes but the data section has 8/],
    ['too many dims', build({ w: { dtype: 'F32', shape: new Array(40).fill(1), data_offsets: [0, 4] } }, 4), /at most 32/],
    ['offsets not an array', build({ w: { dtype: 'F32', shape: [2], data_offsets: 0 } }, 8), /data_offsets must be two/],
    ['one offset', build({ w: { dtype: 'F32', shape: [2], data_offsets: [0] } }, 8), /data_offsets must be two/],
    ['three offsets', build({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8, 9] } }, 8), /data_offsets must be two/],
    ['negative offset', build({ w: { dtype: 'F32', shape: [0], data_offsets: [-4, -4] } }, 8), /data_offsets must be two/],
    ['fractional offset', build({ w: { dtype: 'F32', shape: [2], data_offsets: [0.5, 8.5] } }, 9), /data_offsets must be two/],
    ['begin after end', build({ w: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, 8), /begin after end/],
    ['size mismatch', build({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, 8), /span 4 bytes but shape \[2\] of F32 needs 8/],
    ['offsets beyond data', build({ w: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 8), /run past the end of the data section/],
    [
      'overlap',
      build(
        {
          a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
          b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
        },
        12,
      ),
      /tensors "a" \[0, 8\] and "b" \[4, 12\] overlap/,
    ],
    [
      'identical ranges',
      build(
        {
          a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] },
          b: { dtype: 'I8', shape: [4], data_offsets: [0, 4] },
        },
        4,
      ),
      /overlap/,
    ],
  ])('%s', (_label, buf, reason) => {
    expect(formatError(buf).reason).toMatch(reason);
  });

  it('rejects invalid UTF-8 in the header', () => {
    const buf = build('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', 8);
    buf[10] = 0xff;
    expect(formatError(buf).reason).toBe('header is not valid UTF-8');
    expect(formatError(buf).cause).toBeInstanceOf(TypeError);
  });

  it('allows gaps and zero-size tensors anywhere', () => {
    const p = parseSafetensors(
      build(
        {
          b: { dtype: 'F32', shape: [1], data_offsets: [12, 16] },
          a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
          z: { dtype: 'F32', shape: [0, 3], data_offsets: [2, 2] },
        },
        20,
      ),
    );
    expect([...p.tensors.keys()]).toEqual(['b', 'a', 'z']);
    expect(p.tensors.get('z')?.bytes.length).toBe(0);
    expect(entryToFloat32(p.tensors.get('z') as SafetensorsEntry).length).toBe(0);
  });

  it('stores a "__proto__" metadata key as data', () => {
    const p = parseSafetensors(build('{"__metadata__":{"__proto__":"x","a":"b"}}'));
    expect(Object.getPrototypeOf(p.metadata)).toBe(Object.prototype);
    expect(Object.keys(p.metadata)).toEqual(['__proto__', 'a']);
    expect(Object.getOwnPropertyDescriptor(p.metadata, '__proto__')?.value).toBe('x');
  });

  it('names the default file label for buffers', () => {
    expect(() => parseSafetensors(new Uint8Array(3))).toThrow('Invalid model file <buffer>: file is 3 bytes long');
    expect(() => parseSafetensors('nope' as never)).toThrow(InvalidArgumentError);
  });

  it('turns read failures into ModelFormatError with the code on cause', async () => {
    const missing = join(tmpRoot, 'missing.safetensors');
    for (const err of [
      await readSafetensors(missing).catch((e: unknown) => e),
      (() => {
        try {
          readSafetensorsSync(missing);
        } catch (e) {
          return e;
        }
        return undefined;
      })(),
    ]) {
      expect(err).toBeInstanceOf(ModelFormatError);
      const e = err as ModelFormatError;
      expect(e.message).toBe(`Invalid model file ${missing}: cannot read the file (ENOENT)`);
      expect((e.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
    }
    await expect(readSafetensors(tmpRoot)).rejects.toThrow(/cannot read the file \(EISDIR\)/);
    const bad = join(tmpRoot, 'bad.safetensors');
    writeFileSync(bad, 'not a model file at all');
    await expect(readSafetensors(bad)).rejects.toThrow(`Invalid model file ${bad}: header length`);
  });
});

suite('random mutations', () => {
  const prng = mulberry32;

  it('parse either succeeds or throws ModelFormatError, for thousands of mutations', () => {
    const original = new Uint8Array(readFileSync(FIXTURE));
    const headerLen = Number(new DataView(original.buffer, original.byteOffset).getBigUint64(0, true));
    const rand = prng(0x5eed);
    const int = (n: number): number => Math.floor(rand() * n);
    const interesting = [0x00, 0x20, 0x22, 0x2c, 0x2d, 0x30, 0x31, 0x39, 0x3a, 0x5b, 0x5d, 0x7b, 0x7d, 0x65, 0xff, 0xc3, 0x80];
    let succeeded = 0;
    let failed = 0;
    const reasons = new Set<string>();
    const started = performance.now();
    const N = 4000;
    for (let iter = 0; iter < N; iter++) {
      let buf = original.slice();
      const kind = int(6);
      if (kind === 0) {
        // flip a few header bytes
        for (let k = 0, m = 1 + int(4); k < m; k++) buf[8 + int(headerLen)] = int(256);
      } else if (kind === 1) {
        // JSON-ish bytes into the header (digits, brackets, quotes…)
        for (let k = 0, m = 1 + int(3); k < m; k++) buf[8 + int(headerLen)] = interesting[int(interesting.length)] as number;
      } else if (kind === 2) {
        // change the header length
        const dv = new DataView(buf.buffer);
        const choices = [0n, 1n, BigInt(headerLen - 1 - int(16)), BigInt(headerLen + 1 + int(16)), BigInt(int(2 ** 31)), 2n ** 64n - 1n];
        dv.setBigUint64(0, choices[int(choices.length)] as bigint, true);
      } else if (kind === 3) {
        // truncate anywhere
        buf = buf.subarray(0, int(buf.length));
      } else if (kind === 4) {
        // change one digit of a number in the header (offsets / shapes)
        const text = new TextDecoder().decode(buf.subarray(8, 8 + headerLen));
        const digits = [...text.matchAll(/\d/g)];
        const d = digits[int(digits.length)];
        if (d?.index !== undefined) buf[8 + d.index] = 0x30 + int(10);
      } else {
        // splice: delete a byte range from the header, fixing the length prefix
        const at = 8 + int(headerLen);
        const len = 1 + int(8);
        const cut = new Uint8Array(buf.length - len);
        cut.set(buf.subarray(0, at));
        cut.set(buf.subarray(at + len), at);
        new DataView(cut.buffer).setBigUint64(0, BigInt(headerLen - len), true);
        buf = cut;
      }
      try {
        const p = parseSafetensors(buf, 'mutant.safetensors');
        // whatever parses must be safe to convert
        for (const e of p.tensors.values()) {
          expect(e.bytes.byteOffset + e.bytes.length).toBeLessThanOrEqual(buf.byteOffset + buf.length);
          try {
            entryToTensor(e);
          } catch (err) {
            if (!(err instanceof ModelFormatError)) throw err;
          }
        }
        succeeded++;
      } catch (err) {
        if (!(err instanceof ModelFormatError)) throw err;
        expect(err.message).toContain('mutant.safetensors');
        reasons.add(err.reason.replace(/[\d"[\]]+/g, '').slice(0, 30));
        failed++;
      }
    }
    const elapsed = performance.now() - started;
    expect(succeeded + failed).toBe(N);
    expect(failed).toBeGreaterThan(N / 4);
    expect(succeeded).toBeGreaterThan(0);
    expect(reasons.size).toBeGreaterThan(5); // many different checks fired
    expect(elapsed).toBeLessThan(10_000);
  });
});

suite('atomic writes', () => {
  const tempFiles = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.tmp'));

  it('writeSafetensors writes a readable file and leaves no temp files', async () => {
    const dir = mkdtempSync(join(tmpRoot, 'w-'));
    const path = join(dir, 'model.safetensors');
    await writeSafetensors(path, { w: Tensor.from([1, 2, 3]) }, { config: '{"a":1}' });
    const back = await readSafetensors(path);
    expect(back.metadata.config).toBe('{"a":1}');
    expect(Array.from(entryToFloat32(back.tensors.get('w') as SafetensorsEntry))).toEqual([1, 2, 3]);
    // replaces existing content
    writeSafetensorsSync(path, { v: Tensor.from([9], 'int32') });
    const again = readSafetensorsSync(path);
    expect([...again.tensors.keys()]).toEqual(['v']);
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
  });

  it('writeFileAtomic replaces content and keeps the mode', async () => {
    const dir = mkdtempSync(join(tmpRoot, 'a-'));
    const path = join(dir, 'f.txt');
    writeFileSync(path, 'old');
    chmodSync(path, 0o640);
    await writeFileAtomic(path, 'new content');
    expect(readFileSync(path, 'utf8')).toBe('new content');
    expect(statSync(path).mode & 0o777).toBe(0o640);
    writeFileAtomicSync(path, Uint8Array.of(1, 2, 3));
    expect(Array.from(readFileSync(path))).toEqual([1, 2, 3]);
    expect(tempFiles(dir)).toEqual([]);
    // concurrent writers: one of them wins, the file is never torn
    await Promise.all(Array.from({ length: 8 }, (_, i) => writeFileAtomic(path, String(i).repeat(10000))));
    const text = readFileSync(path, 'utf8');
    expect(text.length).toBe(10000);
    expect(new Set(text).size).toBe(1);
    expect(tempFiles(dir)).toEqual([]);
  });

  it('a failed write leaves the old file intact and no temp file', async () => {
    const dir = mkdtempSync(join(tmpRoot, 'f-'));
    const missingDir = join(dir, 'nope', 'model.safetensors');
    await expect(writeFileAtomic(missingDir, 'x')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(() => writeFileAtomicSync(missingDir, 'x')).toThrow(expect.objectContaining({ code: 'ENOENT' }));

    // rename fails: the target is a non-empty directory; the temp file must be cleaned up
    const target = join(dir, 'target');
    const inside = join(target, 'keep.txt');
    mkdirSync(target);
    await writeFileAtomic(inside, 'keep');
    await expect(writeFileAtomic(target, 'x')).rejects.toThrow();
    expect(() => writeFileAtomicSync(target, 'x')).toThrow();
    expect(readFileSync(inside, 'utf8')).toBe('keep');
    expect(tempFiles(dir)).toEqual([]);

    // serialization errors happen before anything touches the disk
    const path = join(dir, 'model.safetensors');
    await writeSafetensors(path, { w: Tensor.from([1]) });
    const before = readFileSync(path);
    await expect(
      writeSafetensors(path, { w: { dtype: 'F32', shape: [4], data: new Float32Array(1) } }),
    ).rejects.toThrow(ShapeError);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(tempFiles(dir)).toEqual([]);
  });
});
