/**
 * The `weightsManifest` of a TensorFlow.js layers model: groups of weights, each group stored
 * as the concatenation of its shard files (`paths`, relative to model.json). Every weight is
 * checked against the bytes that really exist before anything is allocated for it.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { ModelFormatError } from '../../errors.js';
import { isPlainObject } from '../../validate.js';

/** A weight as float32, with its manifest name (":0" suffixes removed) and shape. */
export interface TfjsWeight {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Most elements one weight may declare (1 Gi floats); real limits come from the shard sizes. */
const MAX_ELEMENTS = 2 ** 28;
/** Most bytes all shards together may hold. */
const MAX_TOTAL_BYTES = 2 ** 32;
const MAX_RANK = 8;

interface Planned {
  name: string;
  shape: number[];
  count: number;
  bytes: number;
  decode: (buf: Buffer, offset: number, count: number) => Float32Array;
}

function decodeFloat32(buf: Buffer, off: number, n: number): Float32Array {
  const out = new Float32Array(n);
  new Uint8Array(out.buffer).set(buf.subarray(off, off + n * 4));
  return out;
}

function decodeInt32(buf: Buffer, off: number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = buf.readInt32LE(off + 4 * i);
  return out;
}

function decodeBool(buf: Buffer, off: number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = buf[off + i] ? 1 : 0;
  return out;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function decodeFloat16(buf: Buffer, off: number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = halfToFloat(buf.readUInt16LE(off + 2 * i));
  return out;
}

function decodeQuant(bytes: 1 | 2, scale: number, min: number) {
  return (buf: Buffer, off: number, n: number): Float32Array => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = (bytes === 1 ? (buf[off + i] as number) : buf.readUInt16LE(off + 2 * i)) * scale + min;
    return out;
  };
}

/** Strips TF's ":0" output suffix. */
export function cleanWeightName(name: string): string {
  return name.replace(/:\d+$/, '');
}

function planWeight(file: string, w: unknown, where: string): Planned {
  const fail = (why: string): never => {
    throw new ModelFormatError(file, `${where}: ${why}`);
  };
  if (!isPlainObject(w)) return fail('is not an object');
  if (typeof w.name !== 'string' || w.name.length === 0) return fail('has no name');
  const name = cleanWeightName(w.name);
  const at = `${where} ("${w.name}")`;
  const bad = (why: string): never => {
    throw new ModelFormatError(file, `${at}: ${why}`);
  };
  if (!Array.isArray(w.shape) || w.shape.length > MAX_RANK) return bad(`shape must be an array of at most ${MAX_RANK} dimensions`);
  let count = 1;
  for (const d of w.shape as unknown[]) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) return bad(`shape ${JSON.stringify(w.shape)} has a dimension that is not a non-negative integer`);
    count *= d;
    if (count > MAX_ELEMENTS) return bad(`shape ${JSON.stringify(w.shape)} declares more than 2^28 elements`);
  }
  const shape = (w.shape as number[]).slice();
  const dtype = w.dtype === undefined ? 'float32' : w.dtype;
  const q = w.quantization;
  if (q !== undefined && q !== null) {
    if (!isPlainObject(q)) return bad('quantization must be an object');
    if (dtype !== 'float32') return bad(`quantized weights must have dtype float32 (got ${JSON.stringify(dtype)})`);
    if (q.dtype === 'float16') return { name, shape, count, bytes: count * 2, decode: decodeFloat16 };
    if (q.dtype === 'uint8' || q.dtype === 'uint16') {
      const scale = q.scale;
      const min = q.min;
      if (typeof scale !== 'number' || !Number.isFinite(scale) || typeof min !== 'number' || !Number.isFinite(min))
        return bad('quantization needs finite numbers scale and min');
      const b = q.dtype === 'uint8' ? 1 : 2;
      return { name, shape, count, bytes: count * b, decode: decodeQuant(b, scale, min) };
    }
    return bad(`unsupported quantization dtype ${JSON.stringify(q.dtype)} (uint8, uint16 or float16)`);
  }
  switch (dtype) {
    case 'float32':
      return { name, shape, count, bytes: count * 4, decode: decodeFloat32 };
    case 'int32':
      return { name, shape, count, bytes: count * 4, decode: decodeInt32 };
    case 'bool':
      return { name, shape, count, bytes: count, decode: decodeBool };
    default:
      return bad(`unsupported dtype ${JSON.stringify(dtype)} (float32, int32 or bool)`);
  }
}

function shardPath(file: string, dir: string, p: unknown, where: string): string {
  if (typeof p !== 'string' || p.length === 0 || p.includes('\0'))
    throw new ModelFormatError(file, `${where} must be a non-empty file name`);
  let name = p;
  try {
    name = decodeURIComponent(p);
  } catch {
    /* keep as written */
  }
  if (isAbsolute(name)) throw new ModelFormatError(file, `${where} (${JSON.stringify(p)}) must be relative to model.json`);
  const full = resolve(dir, name);
  const rel = relative(dir, full);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel))
    throw new ModelFormatError(file, `${where} (${JSON.stringify(p)}) points outside the model's folder`);
  return full;
}

/**
 * Reads every weight the manifest lists, in manifest order.
 * @throws ModelFormatError for a malformed manifest, a missing, short or oversized shard, or
 *   duplicate names
 */
export async function readTfjsWeights(file: string, manifest: unknown): Promise<TfjsWeight[]> {
  if (manifest === undefined || manifest === null) return [];
  if (!Array.isArray(manifest)) throw new ModelFormatError(file, 'weightsManifest must be an array of weight groups');
  const dir = dirname(resolve(file));
  const out: TfjsWeight[] = [];
  const seen = new Set<string>();
  let totalBytes = 0;
  for (let g = 0; g < manifest.length; g++) {
    const group: unknown = manifest[g];
    const gw = `weightsManifest[${g}]`;
    if (!isPlainObject(group)) throw new ModelFormatError(file, `${gw} is not an object`);
    if (!Array.isArray(group.paths)) throw new ModelFormatError(file, `${gw}.paths must be an array of shard file names`);
    if (!Array.isArray(group.weights)) throw new ModelFormatError(file, `${gw}.weights must be an array`);
    const plans = group.weights.map((w: unknown, i: number) => planWeight(file, w, `${gw}.weights[${i}]`));
    let need = 0;
    for (const p of plans) {
      if (seen.has(p.name)) throw new ModelFormatError(file, `weight "${p.name}" is listed twice in weightsManifest`);
      seen.add(p.name);
      need += p.bytes;
    }
    if (need > MAX_TOTAL_BYTES) throw new ModelFormatError(file, `${gw} declares ${need} bytes of weights (over 4 GiB)`);
    const paths = group.paths.map((p: unknown, i: number) => shardPath(file, dir, p, `${gw}.paths[${i}]`));
    if (paths.length === 0 && need > 0) throw new ModelFormatError(file, `${gw} lists weights but no shard files`);
    let have = 0;
    const sizes: number[] = [];
    for (let i = 0; i < paths.length; i++) {
      let st;
      try {
        st = await stat(paths[i] as string);
      } catch (e) {
        throw new ModelFormatError(file, `weight shard ${JSON.stringify(group.paths[i])} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e });
      }
      if (!st.isFile()) throw new ModelFormatError(file, `weight shard ${JSON.stringify(group.paths[i])} is not a file`);
      sizes.push(st.size);
      have += st.size;
    }
    if (have < need)
      throw new ModelFormatError(file, `weight shards of ${gw} are truncated: they hold ${have} bytes but the manifest's weights need ${need}`);
    if (have > need)
      throw new ModelFormatError(file, `weight byte sizes do not match: the shards of ${gw} hold ${have} bytes but the manifest's weights take ${need}`);
    totalBytes += have;
    if (totalBytes > MAX_TOTAL_BYTES) throw new ModelFormatError(file, 'the weight shards hold more than 4 GiB');
    const parts: Buffer[] = [];
    for (let i = 0; i < paths.length; i++) {
      let b: Buffer;
      try {
        b = await readFile(paths[i] as string);
      } catch (e) {
        throw new ModelFormatError(file, `weight shard ${JSON.stringify(group.paths[i])} cannot be read`, { cause: e });
      }
      if (b.length !== sizes[i]) throw new ModelFormatError(file, `weight shard ${JSON.stringify(group.paths[i])} changed while it was read`);
      parts.push(b);
    }
    const buf = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, have);
    let off = 0;
    for (const p of plans) {
      const data = p.decode(buf, off, p.count);
      off += p.bytes;
      out.push({ name: p.name, shape: p.shape, data });
    }
  }
  return out;
}
