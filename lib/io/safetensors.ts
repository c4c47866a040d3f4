/**
 * Reader and writer for the safetensors format.
 *
 * Layout: an 8-byte little-endian u64 `N`, then `N` bytes of UTF-8 JSON header, then the data
 * section. The header maps tensor names to `{ dtype, shape, data_offsets: [begin, end] }`
 * (offsets relative to the start of the data section) and may hold a `__metadata__` object
 * of string → string.
 *
 * Model files are untrusted input: the parser checks every field and every offset before
 * touching the data, and reports each problem as a {@link ModelFormatError} naming the file
 * and the reason. It never reads out of bounds and never allocates more than the file size.
 */
import { open } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ModelFormatError, ShapeError, describe, formatShape, invalidArg } from '../errors.js';
import { Tensor, type DType, type TensorData } from '../tensor.js';
import { isPlainObject } from '../validate.js';
import { writeFileAtomic, writeFileAtomicSync } from './atomicWrite.js';

/** Element types of the safetensors format that rnnx reads and writes. */
export type SafetensorsDType =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U64'
  | 'U32'
  | 'U16'
  | 'U8'
  | 'BOOL';

/** Bytes per element of each dtype. */
export const SAFETENSORS_DTYPE_SIZES: Readonly<Record<SafetensorsDType, number>> = Object.freeze({
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
});

/** Largest header accepted (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;
/** Most dimensions a tensor may have. */
export const MAX_RANK = 32;

/** One tensor of a parsed file. */
export interface SafetensorsEntry {
  name: string;
  /** A {@link SafetensorsDType} (`'F32'`, `'I64'`, …). */
  dtype: string;
  shape: number[];
  /** The raw little-endian bytes: a view into the file buffer, no copy. */
  bytes: Uint8Array;
  /** File the entry came from, for error messages. */
  file?: string;
}

/** A parsed safetensors file. */
export interface SafetensorsFile {
  /** `__metadata__` (empty if absent). */
  metadata: Record<string, string>;
  /** Tensors in header order. */
  tensors: Map<string, SafetensorsEntry>;
}

/** A tensor to write: a {@link Tensor}, or raw data with a safetensors dtype. */
export type SerializableTensor = Tensor | { dtype: string; shape: readonly number[]; data: ArrayBufferView };

/** Tensors to write, in order. */
export type SerializableTensors = Record<string, SerializableTensor> | ReadonlyMap<string, SerializableTensor>;

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const METADATA_KEY = '__metadata__';

function isDType(d: unknown): d is SafetensorsDType {
  return typeof d === 'string' && Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPE_SIZES, d);
}

/** Quoted, length-limited tensor name for messages. */
function q(name: string): string {
  const s = name.length > 64 ? `${name.slice(0, 64)}…` : name;
  return JSON.stringify(s);
}

/** Short JSON text of a header value, for messages. */
function j(value: unknown): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(value);
  } catch {
    s = undefined;
  }
  if (s === undefined) return describe(value);
  return s.length > 48 ? `${s.slice(0, 48)}…` : s;
}

function setOwn(obj: Record<string, string>, key: string, value: string): void {
  // defineProperty, so a key named "__proto__" is stored as data, not as the prototype
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

// ---------------------------------------------------------------------------------------------
// Parsing

/**
 * Parses a safetensors file held in memory. Tensor bytes are views into `buf` (no copy), so
 * keep `buf` unchanged while the entries are in use.
 *
 * @param buf the whole file
 * @param file name used in error messages
 * @throws ModelFormatError for any malformed or unsupported content
 */
export function parseSafetensors(buf: Uint8Array, file = '<buffer>'): SafetensorsFile {
  if (!(buf instanceof Uint8Array)) throw invalidArg('buf', 'Uint8Array', buf);
  const fail = (reason: string, cause?: unknown): ModelFormatError =>
    new ModelFormatError(file, reason, cause === undefined ? {} : { cause });

  if (buf.length < 8) {
    throw fail(`file is ${buf.length} bytes long; a safetensors file starts with an 8-byte header length`);
  }
  const headerLen64 = new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true);
  if (headerLen64 > BigInt(MAX_HEADER_BYTES)) {
    throw fail(`header length ${headerLen64} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  }
  const headerLen = Number(headerLen64);
  if (headerLen > buf.length - 8) {
    throw fail(`header length ${headerLen} is larger than the rest of the file (${buf.length - 8} bytes)`);
  }
  const dataStart = 8 + headerLen;
  const dataLen = buf.length - dataStart;

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buf.subarray(8, dataStart));
  } catch (err) {
    throw fail('header is not valid UTF-8', err);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    const detail = err instanceof Error ? err.message.slice(0, 120) : String(err);
    throw fail(`header is not valid JSON (${detail})`, err);
  }
  if (!isPlainObject(header)) throw fail(`header must be a JSON object, found ${j(header)}`);

  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsEntry>();
  const ranges: Array<{ begin: number; end: number; name: string }> = [];

  for (const name of Object.keys(header)) {
    const info = header[name];
    if (name === METADATA_KEY) {
      if (!isPlainObject(info)) throw fail(`__metadata__ must be an object of strings, found ${j(info)}`);
      for (const key of Object.keys(info)) {
        const v = info[key];
        if (typeof v !== 'string') throw fail(`__metadata__ value of ${q(key)} must be a string, found ${j(v)}`);
        setOwn(metadata, key, v);
      }
      continue;
    }
    const t = `tensor ${q(name)}`;
    if (!isPlainObject(info)) throw fail(`${t}: entry must be an object, found ${j(info)}`);

    const dtype = info.dtype;
    if (!isDType(dtype)) {
      throw fail(`${t}: unsupported dtype ${j(dtype)} (supported: ${Object.keys(SAFETENSORS_DTYPE_SIZES).join(', ')})`);
    }
    const itemSize = SAFETENSORS_DTYPE_SIZES[dtype];

    const shape = info.shape;
    if (!Array.isArray(shape)) throw fail(`${t}: shape must be an array of non-negative integers, found ${j(shape)}`);
    if (shape.length > MAX_RANK) throw fail(`${t}: shape has ${shape.length} dimensions; at most ${MAX_RANK} are supported`);
    let count = 1;
    let hasZero = false;
    for (const d of shape as unknown[]) {
      if (!Number.isSafeInteger(d) || (d as number) < 0) {
        throw fail(`${t}: shape must be an array of non-negative integers, found ${j(shape)}`);
      }
      if (d === 0) hasZero = true;
    }
    if (hasZero) {
      count = 0;
    } else {
      for (const d of shape as number[]) {
        count *= d;
        if (count > Number.MAX_SAFE_INTEGER) throw fail(`${t}: shape ${j(shape)} has too many elements`);
      }
    }
    const byteSize = count * itemSize;
    if (byteSize > dataLen) {
      throw fail(`${t}: shape ${j(shape)} of ${dtype} needs ${byteSize} bytes but the data section has ${dataLen}`);
    }

    const offsets = info.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !Number.isSafeInteger(offsets[0]) ||
      !Number.isSafeInteger(offsets[1]) ||
      (offsets[0] as number) < 0 ||
      (offsets[1] as number) < 0
    ) {
      throw fail(`${t}: data_offsets must be two non-negative integers [begin, end], found ${j(offsets)}`);
    }
    const begin = offsets[0] as number;
    const end = offsets[1] as number;
    if (begin > end) throw fail(`${t}: data_offsets [${begin}, ${end}] have begin after end`);
    if (end > dataLen) {
      throw fail(`${t}: data_offsets [${begin}, ${end}] run past the end of the data section (${dataLen} bytes)`);
    }
    if (end - begin !== byteSize) {
      throw fail(
        `${t}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape ${j(shape)} of ${dtype} needs ${byteSize}`,
      );
    }
    if (end > begin) ranges.push({ begin, end, name });
    tensors.set(name, {
      name,
      dtype,
      shape: (shape as number[]).slice(),
      bytes: buf.subarray(dataStart + begin, dataStart + end),
      file,
    });
  }

  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < ranges.length; i++) {
    const prev = ranges[i - 1] as { begin: number; end: number; name: string };
    const cur = ranges[i] as { begin: number; end: number; name: string };
    if (cur.begin < prev.end) {
      throw fail(
        `tensors ${q(prev.name)} [${prev.begin}, ${prev.end}] and ${q(cur.name)} [${cur.begin}, ${cur.end}] overlap`,
      );
    }
  }
  return { metadata, tensors };
}

function pathLabel(path: string | URL): string {
  return path instanceof URL ? fileURLToPath(path) : String(path);
}

function readFailure(file: string, err: unknown): ModelFormatError {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  const msg = err instanceof Error ? err.message : String(err);
  return new ModelFormatError(file, `cannot read the file (${typeof code === 'string' ? code : msg})`, { cause: err });
}

/**
 * Reads and parses a safetensors file. Read failures (missing file, permissions, a directory)
 * are also {@link ModelFormatError}s, with the file system error (and its `code`) as `cause`.
 */
/**
 * The whole file in one buffer, read in 64 MiB requests (fs.promises.readFile reads large files in
 * 512 KiB round trips through the thread pool, several times slower).
 */
async function readWhole(path: string | URL): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    if (size > 2 ** 53) throw new RangeError('file too large');
    const buf = Buffer.allocUnsafe(size);
    let pos = 0;
    while (pos < size) {
      const { bytesRead } = await fh.read(buf, pos, Math.min(size - pos, 64 * 1024 * 1024), pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
    }
    return pos === size ? buf : buf.subarray(0, pos);
  } finally {
    await fh.close();
  }
}

export async function readSafetensors(path: string | URL): Promise<SafetensorsFile> {
  const file = pathLabel(path);
  let buf: Uint8Array;
  try {
    buf = await readWhole(path);
  } catch (err) {
    throw readFailure(file, err);
  }
  return parseSafetensors(buf, file);
}

/** Synchronous {@link readSafetensors}. */
export function readSafetensorsSync(path: string | URL): SafetensorsFile {
  const file = pathLabel(path);
  let buf: Uint8Array;
  try {
    buf = readFileSync(path);
  } catch (err) {
    throw readFailure(file, err);
  }
  return parseSafetensors(buf, file);
}

// ---------------------------------------------------------------------------------------------
// Converters

type RawView =
  | Float64Array
  | Float32Array
  | Uint16Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

function entryFail(entry: SafetensorsEntry, reason: string): ModelFormatError {
  return new ModelFormatError(entry.file, `tensor ${q(entry.name)}: ${reason}`);
}

/** Checks that an entry (possibly built by hand) is self-consistent; returns dtype and count. */
function checkEntry(entry: SafetensorsEntry): { dtype: SafetensorsDType; count: number } {
  if (typeof entry !== 'object' || entry === null) throw invalidArg('entry', 'safetensors entry', entry);
  if (!isDType(entry.dtype)) throw entryFail(entry, `unsupported dtype ${j(entry.dtype)}`);
  if (!(entry.bytes instanceof Uint8Array)) throw invalidArg('entry.bytes', 'Uint8Array', entry.bytes);
  if (!Array.isArray(entry.shape) || !entry.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw invalidArg('entry.shape', 'array of non-negative integers', entry.shape);
  }
  const size = SAFETENSORS_DTYPE_SIZES[entry.dtype];
  const count = entry.bytes.length / size;
  let n = 1;
  for (const d of entry.shape) n *= d;
  if (n !== count) {
    throw entryFail(entry, `${entry.bytes.length} bytes do not hold shape ${formatShape(entry.shape)} of ${entry.dtype}`);
  }
  return { dtype: entry.dtype, count };
}

/** Swaps the bytes of each `size`-byte element in place (big-endian hosts only). */
function byteSwap(bytes: Uint8Array, size: number): void {
  for (let i = 0; i + size <= bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const tmp = bytes[a] as number;
      bytes[a] = bytes[b] as number;
      bytes[b] = tmp;
    }
  }
}

/**
 * A typed-array view of the entry's elements in host order: zero-copy when the bytes are
 * aligned for the element size (and the host is little-endian), else over an aligned copy.
 */
function rawView(entry: SafetensorsEntry, dtype: SafetensorsDType, count: number): RawView {
  const size = SAFETENSORS_DTYPE_SIZES[dtype];
  let b = entry.bytes;
  if (!HOST_LE || b.byteOffset % size !== 0) {
    // A real copy into a fresh ArrayBuffer (offset 0). Not b.slice(): on a Node Buffer, slice()
    // returns a view over the same memory, keeping the misalignment.
    b = new Uint8Array(b);
    if (!HOST_LE && size > 1) byteSwap(b, size);
  }
  const { buffer, byteOffset } = b;
  switch (dtype) {
    case 'F64':
      return new Float64Array(buffer, byteOffset, count);
    case 'F32':
      return new Float32Array(buffer, byteOffset, count);
    case 'F16':
    case 'BF16':
    case 'U16':
      return new Uint16Array(buffer, byteOffset, count);
    case 'I64':
      return new BigInt64Array(buffer, byteOffset, count);
    case 'U64':
      return new BigUint64Array(buffer, byteOffset, count);
    case 'I32':
      return new Int32Array(buffer, byteOffset, count);
    case 'U32':
      return new Uint32Array(buffer, byteOffset, count);
    case 'I16':
      return new Int16Array(buffer, byteOffset, count);
    case 'I8':
      return new Int8Array(buffer, byteOffset, count);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(buffer, byteOffset, count);
  }
}

let f16Table: Float32Array | undefined;

/** IEEE 754 binary16 → number, via a 64K-entry table built on first use. */
function f16Lookup(): Float32Array {
  if (f16Table !== undefined) return f16Table;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    let v: number;
    if (exp === 0) v = frac * 2 ** -24;
    else if (exp === 31) v = frac === 0 ? Infinity : NaN;
    else v = (1 + frac / 1024) * 2 ** (exp - 15);
    table[h] = sign * v;
  }
  f16Table = table;
  return table;
}

/** Fills a float array from any raw view. */
function fillFloat(out: Float32Array | Float64Array, dtype: SafetensorsDType, raw: RawView): void {
  const n = out.length;
  switch (dtype) {
    case 'F16': {
      const table = f16Lookup();
      const src = raw as Uint16Array;
      for (let i = 0; i < n; i++) out[i] = table[src[i] as number] as number;
      return;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32
      const src = raw as Uint16Array;
      const bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) bits[i] = (src[i] as number) << 16;
      out.set(new Float32Array(bits.buffer));
      return;
    }
    case 'I64':
    case 'U64': {
      const src = raw as BigInt64Array | BigUint64Array;
      for (let i = 0; i < n; i++) out[i] = Number(src[i]);
      return;
    }
    case 'BOOL': {
      const src = raw as Uint8Array;
      for (let i = 0; i < n; i++) out[i] = src[i] !== 0 ? 1 : 0;
      return;
    }
    default:
      out.set(raw as Exclude<RawView, BigInt64Array | BigUint64Array>);
  }
}

/**
 * The entry's values as a Float32Array (from any dtype; F64 and 64-bit integers are rounded).
 * A zero-copy view when the entry is F32 and 4-byte aligned, else a new array.
 */
export function entryToFloat32(entry: SafetensorsEntry): Float32Array {
  const { dtype, count } = checkEntry(entry);
  const raw = rawView(entry, dtype, count);
  if (dtype === 'F32') return raw as Float32Array;
  const out = new Float32Array(count);
  fillFloat(out, dtype, raw);
  return out;
}

/**
 * The entry's values as a Float64Array (from any dtype; 64-bit integers beyond 2^53 are rounded).
 * A zero-copy view when the entry is F64 and 8-byte aligned, else a new array.
 */
export function entryToFloat64(entry: SafetensorsEntry): Float64Array {
  const { dtype, count } = checkEntry(entry);
  const raw = rawView(entry, dtype, count);
  if (dtype === 'F64') return raw as Float64Array;
  const out = new Float64Array(count);
  fillFloat(out, dtype, raw);
  return out;
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/**
 * The entry's values as an Int32Array, from an integer or BOOL dtype. Values outside the int32
 * range (possible for I64, U32, U64) are a {@link ModelFormatError}; float dtypes too.
 * A zero-copy view when the entry is I32 and 4-byte aligned, else a new array.
 */
export function entryToInt32(entry: SafetensorsEntry): Int32Array {
  const { dtype, count } = checkEntry(entry);
  if (dtype === 'F64' || dtype === 'F32' || dtype === 'F16' || dtype === 'BF16') {
    throw entryFail(entry, `has dtype ${dtype} but an integer dtype is needed`);
  }
  const raw = rawView(entry, dtype, count);
  if (dtype === 'I32') return raw as Int32Array;
  const out = new Int32Array(count);
  switch (dtype) {
    case 'I64':
    case 'U64': {
      const src = raw as BigInt64Array | BigUint64Array;
      const lo = BigInt(INT32_MIN);
      const hi = BigInt(INT32_MAX);
      for (let i = 0; i < count; i++) {
        const v = src[i] as bigint;
        if (v < lo || v > hi) throw entryFail(entry, `value ${v} at index ${i} is outside the int32 range`);
        out[i] = Number(v);
      }
      break;
    }
    case 'U32': {
      const src = raw as Uint32Array;
      for (let i = 0; i < count; i++) {
        const v = src[i] as number;
        if (v > INT32_MAX) throw entryFail(entry, `value ${v} at index ${i} is outside the int32 range`);
        out[i] = v;
      }
      break;
    }
    case 'BOOL': {
      const src = raw as Uint8Array;
      for (let i = 0; i < count; i++) out[i] = src[i] !== 0 ? 1 : 0;
      break;
    }
    default:
      out.set(raw as Int16Array | Int8Array | Uint16Array | Uint8Array);
  }
  return out;
}

/** The tensor dtype an entry maps to by default: F64 → float64, F32/F16/BF16 → float32, integers/BOOL → int32. */
export function defaultTensorDType(dtype: string): DType {
  switch (dtype) {
    case 'F64':
      return 'float64';
    case 'F32':
    case 'F16':
    case 'BF16':
      return 'float32';
    default:
      return 'int32';
  }
}

/**
 * The entry as a {@link Tensor} of `dtype` (default: {@link defaultTensorDType}). Zero-copy
 * when the stored dtype matches and the data is aligned.
 */
export function entryToTensor(entry: SafetensorsEntry, dtype?: DType): Tensor {
  const target = dtype ?? defaultTensorDType(isDType(entry?.dtype) ? entry.dtype : '');
  let data: TensorData;
  switch (target) {
    case 'float32':
      data = entryToFloat32(entry);
      break;
    case 'float64':
      data = entryToFloat64(entry);
      break;
    case 'int32':
      data = entryToInt32(entry);
      break;
    default:
      throw invalidArg('dtype', "one of 'float32', 'float64', 'int32'", dtype);
  }
  return new Tensor(data, entry.shape);
}

// ---------------------------------------------------------------------------------------------
// Writing

const TENSOR_TO_ST: Readonly<Record<DType, SafetensorsDType>> = { float32: 'F32', float64: 'F64', int32: 'I32' };

interface Planned {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
  bytes: Uint8Array;
}

function planTensor(name: unknown, t: SerializableTensor): Planned {
  if (typeof name !== 'string') throw invalidArg('tensors', 'string tensor names', name);
  const param = `tensors[${JSON.stringify(name)}]`;
  if (name === METADATA_KEY) throw invalidArg('tensors', `tensor names other than "${METADATA_KEY}"`, name);
  if (Tensor.isTensor(t)) {
    const data = t.data;
    return {
      name,
      dtype: TENSOR_TO_ST[t.dtype],
      shape: t.shape,
      bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    };
  }
  if (typeof t !== 'object' || t === null) throw invalidArg(param, 'Tensor or { dtype, shape, data }', t);
  let dtype: unknown = t.dtype;
  if (dtype === 'float32' || dtype === 'float64' || dtype === 'int32') dtype = TENSOR_TO_ST[dtype];
  if (!isDType(dtype)) {
    throw invalidArg(`${param}.dtype`, `one of ${Object.keys(SAFETENSORS_DTYPE_SIZES).join(', ')}`, t.dtype);
  }
  const shape = t.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw invalidArg(`${param}.shape`, 'array of non-negative integers', shape);
  }
  if (!ArrayBuffer.isView(t.data)) throw invalidArg(`${param}.data`, 'typed array or other ArrayBufferView', t.data);
  let count = 1;
  for (const d of shape) count *= d;
  const need = count * SAFETENSORS_DTYPE_SIZES[dtype];
  if (t.data.byteLength !== need) {
    const expected = `${need} bytes (shape ${formatShape(shape)} of ${dtype})`;
    const received = `${t.data.byteLength} bytes`;
    throw new ShapeError(`Expected ${expected} for ${param}.data but received ${received}`, {
      param: `${param}.data`,
      expected,
      received,
    });
  }
  return {
    name,
    dtype,
    shape: shape.slice(),
    bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
  };
}

/**
 * Encodes tensors (in insertion order, stored contiguously) and optional metadata as a
 * safetensors file. The header is padded with spaces to a multiple of 8 bytes, as the
 * reference implementation does, so the data section starts 8-byte aligned.
 */
export function serializeSafetensors(tensors: SerializableTensors, metadata?: Record<string, string>): Uint8Array {
  const entries: Array<[unknown, SerializableTensor]> =
    tensors instanceof Map
      ? [...(tensors as ReadonlyMap<string, SerializableTensor>).entries()]
      : isPlainObject(tensors)
        ? Object.entries(tensors as Record<string, SerializableTensor>)
        : (() => {
            throw invalidArg('tensors', 'object or Map of tensors', tensors);
          })();

  const parts: string[] = [];
  if (metadata !== undefined) {
    if (!isPlainObject(metadata)) throw invalidArg('metadata', 'object of strings', metadata);
    const keys = Object.keys(metadata);
    for (const k of keys) {
      if (typeof metadata[k] !== 'string') throw invalidArg(`metadata[${JSON.stringify(k)}]`, 'string', metadata[k]);
    }
    if (keys.length > 0) {
      const inner = keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(',');
      parts.push(`${JSON.stringify(METADATA_KEY)}:{${inner}}`);
    }
  }

  const planned: Planned[] = [];
  const seen = new Set<string>();
  let offset = 0;
  for (const [name, t] of entries) {
    const p = planTensor(name, t);
    if (seen.has(p.name)) throw invalidArg('tensors', 'unique tensor names', p.name);
    seen.add(p.name);
    planned.push(p);
    const begin = offset;
    offset += p.bytes.length;
    parts.push(
      `${JSON.stringify(p.name)}:{"dtype":${JSON.stringify(p.dtype)},"shape":[${p.shape.join(',')}],` +
        `"data_offsets":[${begin},${offset}]}`,
    );
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLen = Math.ceil(json.length / 8) * 8;
  if (headerLen > MAX_HEADER_BYTES) {
    throw invalidArg('tensors', `a header of at most ${MAX_HEADER_BYTES} bytes`, `${headerLen} bytes of header`);
  }
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const p of planned) {
    out.set(p.bytes, pos);
    if (!HOST_LE && SAFETENSORS_DTYPE_SIZES[p.dtype] > 1) {
      byteSwap(out.subarray(pos, pos + p.bytes.length), SAFETENSORS_DTYPE_SIZES[p.dtype]);
    }
    pos += p.bytes.length;
  }
  return out;
}

/** Serializes and writes a safetensors file atomically (temp file + fsync + rename). */
export async function writeSafetensors(
  path: string,
  tensors: SerializableTensors,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}

/** Synchronous {@link writeSafetensors}. */
export function writeSafetensorsSync(path: string, tensors: SerializableTensors, metadata?: Record<string, string>): void {
  writeFileAtomicSync(path, serializeSafetensors(tensors, metadata));
}
