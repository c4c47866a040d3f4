/**
 * Property-based fuzzing of loadModel with fast-check, over mutations of the real fixture files
 * (../shared/fixtures: PyTorch layer .safetensors, torch.onnx .onnx, tfjs model.json + shards).
 *
 * Property, for every mutated file: loadModel(path) either returns a model (disposed at once) or
 * rejects with a ModelFormatError whose message names the file — never another error type, never
 * a hang (a per-case time limit), never a huge allocation (peak RSS and the JS/native memory a
 * loaded model holds are bounded).
 *
 * Mutations are plans drawn by fast-check (so failures shrink to a small plan) and applied to the
 * fixture bytes: byte flips and overwrites, truncation, lies in the 8-byte header length,
 * rewritten safetensors headers (offsets out of range / overlapping / reversed, dtype and shape
 * lies, 2^40-element shapes, metadata lies), splices and garbage for ONNX protobufs, and JSON
 * mutations of model.json and its weightsManifest plus shard truncation for tfjs.
 *
 * Fixed seeds: a failure prints its seed and path; rerun with the same seed to reproduce.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../lib/errors.js';
import { loadModel } from '../../lib/model/loadModel.js';

const shared = join(dirname(fileURLToPath(import.meta.url)), '../../../shared/fixtures');
const here = dirname(fileURLToPath(import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'rnnx-fastcheck-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Per-case time limit: a load of these small files takes milliseconds. */
const CASE_MS = 10_000;
/** Memory a single case may add: peak RSS, and what a loaded model holds (ArrayBuffers + external). */
const MAX_GROWTH = 512 * 1024 * 1024;
const baselineRssKb = process.resourceUsage().maxRSS;

let cases = 0;
const counts = { loaded: 0, rejected: 0 };
/** Rejection reasons (digits and quoted names folded), printed with RNNX_FUZZ_VERBOSE=1. */
const reasons = new Map<string, number>();

/** Loads `path`; checks the outcome against the property. `label` is what the error must name. */
async function check(path: string, label: string): Promise<void> {
  cases++;
  const before = process.memoryUsage();
  let model;
  try {
    model = await loadModel(path);
  } catch (e) {
    if (!(e instanceof ModelFormatError)) {
      throw new Error(`loadModel(${path}) threw ${(e as Error)?.name ?? typeof e} (not ModelFormatError): ${(e as Error)?.message ?? String(e)}`);
    }
    if (!e.message.includes(label)) throw new Error(`ModelFormatError does not name ${label}: ${e.message}`);
    counts.rejected++;
    const r = e.reason.replace(/"[^"]*"/g, '"…"').replace(/\d+/g, 'N').slice(0, 70);
    reasons.set(r, (reasons.get(r) ?? 0) + 1);
    return;
  } finally {
    const peakKb = process.resourceUsage().maxRSS;
    if ((peakKb - baselineRssKb) * 1024 > MAX_GROWTH) {
      throw new Error(`peak RSS grew by ${Math.round((peakKb - baselineRssKb) / 1024)} MB loading ${path}`);
    }
  }
  try {
    const now = process.memoryUsage();
    const held = now.arrayBuffers - before.arrayBuffers + (now.external - before.external);
    if (held > MAX_GROWTH) throw new Error(`a loaded model holds ${Math.round(held / 2 ** 20)} MB (${path})`);
    counts.loaded++;
  } finally {
    model.dispose();
  }
}

const runs = (n: number, seed: number) => ({ numRuns: n, seed, endOnFailure: true, plugins: [fc.timeout(CASE_MS)] });

// ---------------------------------------------------------------------------------------------
// safetensors (PyTorch layer files, as loadModel reads them)

interface StFixture {
  name: string;
  bytes: Uint8Array;
  header: Record<string, any>;
  data: Uint8Array;
}

function splitSafetensors(name: string, bytes: Uint8Array): StFixture {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  return { name, bytes, header, data: bytes.subarray(8 + n) };
}

function joinSafetensors(header: unknown, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const len = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + len + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(len), true);
  out.fill(0x20, 8, 8 + len);
  out.set(json, 8);
  out.set(data, 8 + len);
  return out;
}

// lstm_wide (900 KB) is left out to keep the suite fast; its layout is that of the others
const stFixtures = readdirSync(join(shared, 'layers'))
  .filter((f) => f.endsWith('.safetensors') && !f.startsWith('lstm_wide'))
  .sort()
  .map((f) => splitSafetensors(f, new Uint8Array(readFileSync(join(shared, 'layers', f)))));

/** A value a field might be set to: lies about sizes, types, and absurdly large numbers. */
const hostileValue = fc.oneof(
  fc.constantFrom<unknown>(null, true, false, 'x', '', [], {}, -1, 0, 1, 1.5, NaN, 2 ** 24, 2 ** 24 + 1, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53, 2 ** 63, 1e300, -0),
  fc.integer({ min: -4, max: 4096 }),
);
const hugeShape = fc.constantFrom<unknown>([2 ** 40], [2 ** 20, 2 ** 20], [2 ** 13, 2 ** 13, 2 ** 14], [2 ** 53], [2 ** 26, 2 ** 26, 2 ** 26], new Array(33).fill(1), [-1, 4], [1.5], ['3'], [0], []);

const stPlan = fc.oneof(
  // byte flips / overwrites, anywhere or inside the header
  fc.record({
    kind: fc.constant('bytes' as const),
    inHeader: fc.boolean(),
    edits: fc.array(fc.record({ pos: fc.nat(), val: fc.integer({ min: 0, max: 255 }), xor: fc.boolean() }), { minLength: 1, maxLength: 6 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('headerLen' as const),
    value: fc.oneof(
      fc.constantFrom(0n, 1n, 2n, 7n, 8n, 2n ** 32n, 2n ** 40n, 2n ** 63n, 2n ** 64n - 1n, 100n * 1024n * 1024n, 100n * 1024n * 1024n + 1n),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    ),
    delta: fc.integer({ min: -16, max: 16 }),
    relative: fc.boolean(),
  }),
  // a rewritten header: one tensor entry lies
  fc.record({
    kind: fc.constant('entry' as const),
    target: fc.nat(),
    other: fc.nat(),
    field: fc.constantFrom('offsets', 'overlap', 'reverse', 'shift', 'dtype', 'shape', 'hugeShape', 'delete', 'rename', 'entry', 'extra'),
    value: hostileValue,
    shape: hugeShape,
    dtype: fc.constantFrom('F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I8', 'U8', 'BOOL', 'F8_E4M3', 'f32', '', 'complex64'),
    delta: fc.integer({ min: -64, max: 64 }),
  }),
  // a rewritten header: the layer description in __metadata__ lies
  fc.record({
    kind: fc.constant('meta' as const),
    key: fc.constantFrom('cell', 'input_size', 'hidden_size', 'proj_size', 'num_layers', 'bidirectional', 'batch_first', 'bias', 'nonlinearity', '__proto__', 'format', 'rnnx'),
    value: fc.oneof(hostileValue, fc.constantFrom<unknown>('lstm', 'gru', 'rnn', 'relu', 'tanh', 'rnnx', '{"version":1,"layers":[]}')),
    raw: fc.boolean(),
    nonString: fc.boolean(),
  }),
  // data section cut or padded while the header stays
  fc.record({ kind: fc.constant('data' as const), keep: fc.nat(), pad: fc.integer({ min: 0, max: 64 }) }),
);

type StPlan = typeof stPlan extends fc.Arbitrary<infer P> ? P : never;

function applySt(f: StFixture, plan: StPlan): Uint8Array {
  switch (plan.kind) {
    case 'bytes': {
      const b = f.bytes.slice();
      const span = plan.inHeader ? 8 + (f.bytes.length - f.data.length - 8) : b.length;
      for (const e of plan.edits) {
        const p = e.pos % span;
        b[p] = e.xor ? (b[p] as number) ^ (1 << e.val % 8) : e.val;
      }
      return b;
    }
    case 'truncate':
      return f.bytes.subarray(0, plan.at % f.bytes.length);
    case 'headerLen': {
      const b = f.bytes.slice();
      const real = BigInt(f.bytes.length - f.data.length - 8);
      let v = plan.relative ? real + BigInt(plan.delta) : plan.value;
      v = ((v % 2n ** 64n) + 2n ** 64n) % 2n ** 64n;
      new DataView(b.buffer).setBigUint64(0, v, true);
      return b;
    }
    case 'entry': {
      const h = structuredClone(f.header);
      const names = Object.keys(h).filter((k) => k !== '__metadata__');
      const name = names[plan.target % names.length] as string;
      const other = names[plan.other % names.length] as string;
      const e = h[name];
      switch (plan.field) {
        case 'offsets':
          e.data_offsets = [plan.value, e.data_offsets[1]];
          if (plan.delta % 2) e.data_offsets = [e.data_offsets[0], plan.value];
          break;
        case 'overlap': {
          // the same span as another tensor, or one that reaches into it
          const o = h[other].data_offsets as number[];
          const size = e.data_offsets[1] - e.data_offsets[0];
          const begin = Math.max(0, (o[0] as number) + plan.delta);
          e.data_offsets = [begin, begin + size];
          break;
        }
        case 'reverse':
          e.data_offsets = [e.data_offsets[1], e.data_offsets[0]];
          break;
        case 'shift':
          e.data_offsets = [e.data_offsets[0] + plan.delta, e.data_offsets[1] + plan.delta];
          break;
        case 'dtype':
          e.dtype = plan.dtype;
          break;
        case 'shape':
          e.shape = [...e.shape];
          if (e.shape.length === 0) e.shape.push(plan.value);
          else e.shape[plan.other % e.shape.length] = plan.value;
          break;
        case 'hugeShape':
          e.shape = plan.shape;
          break;
        case 'delete':
          delete h[name];
          break;
        case 'rename':
          h[`${other}${plan.delta % 2 ? '' : '_x'}`] = e;
          delete h[name];
          break;
        case 'entry':
          h[name] = plan.value;
          break;
        case 'extra':
          h[`weight_ih_l${Math.abs(plan.delta)}`] = { dtype: plan.dtype, shape: plan.shape, data_offsets: [0, plan.value] };
          break;
      }
      return joinSafetensors(h, f.data);
    }
    case 'meta': {
      const h = structuredClone(f.header);
      const meta: Record<string, unknown> = { ...(h.__metadata__ ?? {}) };
      const v = plan.raw && typeof plan.value === 'string' ? plan.value : JSON.stringify(plan.value);
      Object.defineProperty(meta, plan.key, { value: plan.nonString ? plan.value : v, enumerable: true, writable: true, configurable: true });
      h.__metadata__ = meta;
      return joinSafetensors(h, f.data);
    }
    case 'data': {
      const head = f.bytes.subarray(0, f.bytes.length - f.data.length);
      const keep = plan.keep % (f.data.length + 1);
      const out = new Uint8Array(head.length + keep + plan.pad);
      out.set(head, 0);
      out.set(f.data.subarray(0, keep), head.length);
      return out;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// rnnx model files (weights + the model description in __metadata__.rnnx): the safetensors plans
// above, and lies inside the description (layer fields, layer order, labels, tokenizer)

const rnnxFixtures = readdirSync(join(here, '../fixtures/pytorch'))
  .filter((f) => f.endsWith('.safetensors') && !f.endsWith('.io.safetensors'))
  .sort()
  .map((f) => splitSafetensors(f, new Uint8Array(readFileSync(join(here, '../fixtures/pytorch', f)))));

const descPlan = fc.record({
  layer: fc.nat(),
  key: fc.constantFrom('type', 'name', 'num_embeddings', 'embedding_dim', 'padding_idx', 'hidden_size', 'num_layers', 'bidirectional', 'proj_size', 'bias', 'dropout', 'mode', 'in_features', 'out_features', 'activation', 'p', 'input_size', 'nonlinearity'),
  value: fc.oneof(hostileValue, fc.constantFrom<unknown>('lstm', 'gru', 'rnn', 'pool', 'dense', 'softmax', 'embedding', 'dropout', 'max', 'meanmax', 'relu', 'last')),
  top: fc.constantFrom('layer', 'swap', 'drop', 'dup', 'labels', 'tokenizer', 'input', 'version', 'outputs', 'oos'),
  other: fc.nat(),
});

function applyDesc(f: StFixture, plan: typeof descPlan extends fc.Arbitrary<infer P> ? P : never): Uint8Array {
  const h = structuredClone(f.header);
  const d = JSON.parse(h.__metadata__.rnnx);
  const L = d.layers as Record<string, unknown>[];
  const i = plan.layer % L.length;
  const j = plan.other % L.length;
  switch (plan.top) {
    case 'layer':
      (L[i] as Record<string, unknown>)[plan.key] = plan.value;
      break;
    case 'swap':
      [L[i], L[j]] = [L[j] as Record<string, unknown>, L[i] as Record<string, unknown>];
      break;
    case 'drop':
      L.splice(i, 1);
      break;
    case 'dup':
      L.splice(i, 0, structuredClone(L[j]) as Record<string, unknown>);
      break;
    case 'labels':
      d.labels = plan.other % 2 ? Array.from({ length: Number(plan.value) % 100000 || 3 }, (_, k) => `l${k}`) : plan.value;
      break;
    case 'tokenizer':
      d.tokenizer = plan.other % 2 ? { kind: plan.value, version: 1 } : plan.value;
      break;
    case 'input':
      d.input = plan.other % 2 ? { type: 'features', size: plan.value } : plan.value;
      break;
    case 'version':
      d.version = plan.value;
      break;
    case 'outputs':
      d.outputs = plan.value;
      break;
    case 'oos':
      d.oos = { label: 'oos', threshold: plan.value };
      break;
  }
  h.__metadata__ = { ...h.__metadata__, rnnx: JSON.stringify(d) };
  return joinSafetensors(h, f.data);
}

// ---------------------------------------------------------------------------------------------
// ONNX

const onnxFixtures = readdirSync(join(shared, 'onnx'))
  .filter((f) => f.endsWith('.onnx'))
  .sort()
  .map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(join(shared, 'onnx', f))) }));

const onnxPlan = fc.oneof(
  fc.record({
    kind: fc.constant('bytes' as const),
    edits: fc.array(fc.record({ pos: fc.nat(), val: fc.integer({ min: 0, max: 255 }), mode: fc.constantFrom('set', 'xor', 'extreme') }), { minLength: 1, maxLength: 8 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  // a varint that claims a huge length or never ends
  fc.record({ kind: fc.constant('varint' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 12 }) }),
  // delete, duplicate or move a chunk (breaks lengths of the enclosing messages)
  fc.record({ kind: fc.constant('splice' as const), from: fc.nat(), len: fc.integer({ min: 1, max: 256 }), to: fc.nat(), op: fc.constantFrom('delete', 'dup', 'insert') }),
  fc.record({ kind: fc.constant('garbage' as const), bytes: fc.uint8Array({ minLength: 0, maxLength: 256 }) }),
);
type OnnxPlan = typeof onnxPlan extends fc.Arbitrary<infer P> ? P : never;

function applyOnnx(src: Uint8Array, plan: OnnxPlan): Uint8Array {
  switch (plan.kind) {
    case 'bytes': {
      const b = src.slice();
      for (const e of plan.edits) {
        const p = e.pos % b.length;
        if (e.mode === 'set') b[p] = e.val;
        else if (e.mode === 'xor') b[p] = (b[p] as number) ^ (1 << e.val % 8);
        else b[p] = [0x00, 0x7f, 0x80, 0xff][e.val % 4] as number;
      }
      return b;
    }
    case 'truncate':
      return src.subarray(0, plan.at % src.length);
    case 'varint': {
      const b = src.slice();
      const p = plan.pos % b.length;
      for (let i = p; i < Math.min(b.length, p + plan.len); i++) b[i] = i === p + plan.len - 1 && plan.len < 10 ? 0x7f : 0xff;
      return b;
    }
    case 'splice': {
      const from = plan.from % src.length;
      const chunk = src.subarray(from, Math.min(src.length, from + plan.len));
      const to = plan.to % (src.length + 1);
      if (plan.op === 'delete') {
        const out = new Uint8Array(src.length - chunk.length);
        out.set(src.subarray(0, from), 0);
        out.set(src.subarray(from + chunk.length), from);
        return out;
      }
      const ins = plan.op === 'dup' ? chunk : chunk.map((x) => x ^ 0x5a);
      const out = new Uint8Array(src.length + ins.length);
      out.set(src.subarray(0, to), 0);
      out.set(ins, to);
      out.set(src.subarray(to), to + ins.length);
      return out;
    }
    case 'garbage': {
      // keep the ONNX-looking first byte so the sniffer hands it to the ONNX parser
      const out = new Uint8Array(plan.bytes.length + 1);
      out[0] = 0x08;
      out.set(plan.bytes, 1);
      return out;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// tfjs

const tfjsFixtures = readdirSync(join(shared, 'tfjs'))
  .sort()
  .map((n) => ({
    name: n,
    json: JSON.parse(readFileSync(join(shared, 'tfjs', n, 'model.json'), 'utf8')) as Record<string, any>,
    shard: new Uint8Array(readFileSync(join(shared, 'tfjs', n, 'weights.bin'))),
  }));

/** Every (container, key) of a JSON tree, depth-first. */
function slots(root: unknown): { parent: any; key: string | number }[] {
  const out: { parent: any; key: string | number }[] = [];
  const walk = (v: unknown, depth: number) => {
    if (depth > 16 || v === null || typeof v !== 'object') return;
    const isArr = Array.isArray(v);
    for (const k of Object.keys(v)) {
      const key = isArr ? Number(k) : k;
      out.push({ parent: v, key });
      walk((v as any)[key], depth + 1);
    }
  };
  walk(root, 0);
  return out;
}

const jsonEdit = fc.record({
  slot: fc.nat(),
  other: fc.nat(),
  op: fc.constantFrom('delete', 'copy', 'replace', 'bump', 'wrap'),
  value: fc.oneof(hostileValue, hugeShape, fc.constantFrom<unknown>('LSTM', 'GRU', 'Dense', 'InputLayer', 'hard_sigmoid', 'linear', 'float32', 'int32', 'string', ['x', 0, 0])),
});

const tfjsPlan = fc.oneof(
  fc.record({ kind: fc.constant('json' as const), edits: fc.array(jsonEdit, { minLength: 1, maxLength: 4 }) }),
  // edits confined to the weightsManifest (shapes, dtypes, names, paths)
  fc.record({
    kind: fc.constant('manifest' as const),
    weight: fc.nat(),
    field: fc.constantFrom('shape', 'dtype', 'name', 'paths', 'drop', 'dupPath', 'quant'),
    shape: hugeShape,
    value: hostileValue,
    dtype: fc.constantFrom('float32', 'int32', 'bool', 'string', 'complex64', 'float16', 'uint8', ''),
    path: fc.constantFrom('../../etc/passwd', '/etc/passwd', 'missing.bin', '', 'weights.bin', '.', 'weights.bin\u0000x', 'a/../weights.bin'),
  }),
  fc.record({ kind: fc.constant('shard' as const), keep: fc.nat(), pad: fc.integer({ min: 0, max: 64 }), flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }) }),
  fc.record({ kind: fc.constant('text' as const), at: fc.nat(), edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 127 })), { maxLength: 4 }) }),
  fc.record({ kind: fc.constant('folder' as const), edits: fc.array(jsonEdit, { minLength: 0, maxLength: 2 }) }),
);
type TfjsPlan = typeof tfjsPlan extends fc.Arbitrary<infer P> ? P : never;

function editJson(j: unknown, edits: readonly (typeof jsonEdit extends fc.Arbitrary<infer E> ? E : never)[]): void {
  for (const e of edits) {
    const s = slots(j);
    if (s.length === 0) return;
    const slot = s[e.slot % s.length]!;
    const cur = slot.parent[slot.key];
    if (e.op === 'delete' && !Array.isArray(slot.parent)) delete slot.parent[slot.key];
    else if (e.op === 'copy') {
      const o = s[e.other % s.length]!;
      slot.parent[slot.key] = structuredClone(o.parent[o.key]);
    } else if (e.op === 'bump' && typeof cur === 'number') slot.parent[slot.key] = cur + (e.other % 2 ? 1 : -1) * (1 + (e.other % 7));
    else if (e.op === 'wrap') slot.parent[slot.key] = [cur];
    else slot.parent[slot.key] = structuredClone(e.value);
  }
}

/** Writes the mutated tfjs model into `dir`; returns the path to load and the label its errors must name. */
function applyTfjs(dir: string, f: (typeof tfjsFixtures)[number], plan: TfjsPlan): { path: string; label: string } {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const j = structuredClone(f.json);
  let shard = f.shard;
  let text: string | Uint8Array | undefined;
  switch (plan.kind) {
    case 'json':
    case 'folder':
      editJson(j, plan.edits);
      break;
    case 'manifest': {
      const groups = Array.isArray(j.weightsManifest) ? j.weightsManifest : [];
      const g = groups[0];
      const ws = g?.weights ?? [];
      const w = ws[plan.weight % Math.max(1, ws.length)];
      if (g && w) {
        if (plan.field === 'shape') w.shape = plan.shape;
        else if (plan.field === 'dtype') w.dtype = plan.dtype;
        else if (plan.field === 'name') w.name = plan.value;
        else if (plan.field === 'paths') g.paths = [plan.path];
        else if (plan.field === 'drop') ws.splice(plan.weight % ws.length, 1);
        else if (plan.field === 'dupPath') g.paths = [...g.paths, ...g.paths];
        else w.quantization = { dtype: plan.dtype === 'uint8' ? 'uint8' : 'uint16', scale: plan.value, min: plan.value };
      }
      break;
    }
    case 'shard': {
      const keep = plan.keep % (f.shard.length + 1);
      const b = new Uint8Array(keep + plan.pad);
      b.set(f.shard.subarray(0, keep));
      for (const [p, v] of plan.flips) if (b.length) b[p % b.length] = v;
      shard = b;
      break;
    }
    case 'text': {
      const t = new TextEncoder().encode(JSON.stringify(j));
      const b = t.slice(0, plan.at % (t.length + 1));
      for (const [p, v] of plan.edits) if (b.length) b[p % b.length] = v;
      text = b;
      break;
    }
  }
  const path = join(dir, 'model.json');
  writeFileSync(path, text ?? JSON.stringify(j) ?? 'null');
  writeFileSync(join(dir, 'weights.bin'), shard);
  return { path: plan.kind === 'folder' ? dir : path, label: dir };
}

// ---------------------------------------------------------------------------------------------

describe('loadModel under property-based fuzzing (fast-check, fixed seeds)', () => {
  it('the fixtures load unmutated', async () => {
    for (const f of stFixtures) {
      const p = join(work, `ok-${f.name}`);
      writeFileSync(p, f.bytes);
      (await loadModel(p)).dispose();
    }
    for (const f of rnnxFixtures) {
      const p = join(work, `ok-${f.name}`);
      writeFileSync(p, f.bytes);
      (await loadModel(p)).dispose();
    }
    for (const f of onnxFixtures) (await loadModel(join(shared, 'onnx', f.name))).dispose();
    for (const f of tfjsFixtures) (await loadModel(join(shared, 'tfjs', f.name))).dispose();
  });

  it('safetensors layer files: loads or ModelFormatError naming the file', async () => {
    const path = join(work, 'fuzz.safetensors');
    await fc.assert(
      fc.asyncProperty(fc.nat(), stPlan, async (which, plan) => {
        writeFileSync(path, applySt(stFixtures[which % stFixtures.length]!, plan));
        await check(path, path);
      }),
      runs(5000, 0x5afe7e45),
    );
  });

  it('rnnx model files (PyTorch fixtures): loads or ModelFormatError naming the file', async () => {
    expect(rnnxFixtures.length).toBeGreaterThanOrEqual(5);
    const path = join(work, 'fuzz-rnnx.safetensors');
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.oneof(stPlan.map((p) => ({ st: p })), descPlan.map((p) => ({ desc: p }))), async (which, plan) => {
        const f = rnnxFixtures[which % rnnxFixtures.length]!;
        writeFileSync(path, 'st' in plan ? applySt(f, plan.st) : applyDesc(f, plan.desc));
        await check(path, path);
      }),
      runs(2000, 0x2a11),
    );
  });

  it('ONNX files: loads or ModelFormatError naming the file', async () => {
    const path = join(work, 'fuzz.onnx');
    await fc.assert(
      fc.asyncProperty(fc.nat(), onnxPlan, async (which, plan) => {
        writeFileSync(path, applyOnnx(onnxFixtures[which % onnxFixtures.length]!.bytes, plan));
        await check(path, path);
      }),
      runs(3000, 0x0cc0),
    );
  });

  it('tfjs model.json + shards: loads or ModelFormatError naming the model', async () => {
    const dir = join(work, 'tfjs');
    await fc.assert(
      fc.asyncProperty(fc.nat(), tfjsPlan, async (which, plan) => {
        const { path, label } = applyTfjs(dir, tfjsFixtures[which % tfjsFixtures.length]!, plan);
        await check(path, label);
      }),
      runs(3000, 0x7f15),
    );
  });

  it('covered thousands of cases, both outcomes', () => {
    expect(cases).toBeGreaterThanOrEqual(10_000);
    expect(counts.rejected).toBeGreaterThan(2000);
    expect(counts.loaded).toBeGreaterThan(100);
    console.log(`fast-check fuzz: ${cases} cases, ${counts.loaded} loaded, ${counts.rejected} rejected, ${reasons.size} distinct reasons`);
    if (process.env.RNNX_FUZZ_VERBOSE) {
      for (const [r, n] of [...reasons].sort((a, b) => b[1] - a[1])) console.log(String(n).padStart(6), r);
    }
  });
});
