/**
 * Helpers shared by the tokenizers: error construction for untrusted JSON, option checks, and
 * the batch encoder (padding, truncation, lengths).
 */

import { InvalidArgumentError, ModelFormatError, invalidArg } from '../errors.js';

/**
 * The error for malformed tokenizer JSON: a {@link ModelFormatError} naming `file` when the JSON
 * came from a model file, else an {@link InvalidArgumentError}.
 */
export function formatError(file: string | undefined, reason: string): Error {
  if (file !== undefined) return new ModelFormatError(file, `tokenizer: ${reason}`);
  return new InvalidArgumentError(`Invalid tokenizer JSON: ${reason}`, { param: 'json' });
}

/** True for a plain (non-array, non-null) object. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Throws unless `v` is a boolean. */
export function checkBool(param: string, v: unknown): void {
  if (typeof v !== 'boolean') throw invalidArg(param, 'boolean', v);
}

/** Throws unless `v` is an integer in [min, max]. */
export function checkInt(param: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `integer ≥ ${min}` : `integer in [${min}, ${max}]`;
    throw invalidArg(param, range, v);
  }
  return v;
}

/** Throws unless `texts` is an array of strings. */
export function checkTexts(param: string, texts: unknown): asserts texts is readonly string[] {
  if (!Array.isArray(texts)) throw invalidArg(param, 'array of strings', texts);
  for (let i = 0; i < texts.length; i++) {
    if (typeof texts[i] !== 'string') throw invalidArg(`${param}[${i}]`, 'string', texts[i]);
  }
}

/** Options of `encodeBatch`. */
export interface EncodeBatchOptions {
  /**
   * Longest sequence kept (special tokens included); longer ones are truncated. Default: no limit
   * (but see `padTo`).
   */
  maxLength?: number;
  /**
   * Width T of the batch: `'longest'` (default) pads to the longest sequence; a number pads every
   * row to exactly that many tokens, truncating longer sequences.
   */
  padTo?: 'longest' | number;
  /**
   * Which end to cut when a sequence is too long: `'end'` (default) keeps the beginning,
   * `'start'` keeps the end. A BOS / EOS token is kept in place either way.
   */
  truncate?: 'end' | 'start';
}

/** A padded batch of token ids. */
export interface EncodedBatch {
  /** Row-major [B, T] ids; positions past a row's length hold the pad id 0. */
  ids: Int32Array;
  /** Number of real tokens of each row, all ≥ 1. */
  lengths: Int32Array;
  /** [B, T]. */
  shape: [number, number];
}

/** Largest batch width accepted (guards against absurd `padTo` / `maxLength`). */
export const MAX_BATCH_WIDTH = 1 << 24;

/**
 * Encodes a batch: `encodeCore` gives each text's ids without BOS/EOS; `bosId` / `eosId` (−1 when
 * absent) are added around them. Empty sequences become a single `unkId`.
 */
export function encodeBatchWith(
  texts: readonly string[],
  options: EncodeBatchOptions | undefined,
  encodeCore: (text: string) => ArrayLike<number>,
  unkId: number,
  bosId: number,
  eosId: number,
): EncodedBatch {
  checkTexts('texts', texts);
  const o = options ?? {};
  if (typeof o !== 'object' || o === null) throw invalidArg('options', 'object', o);
  let limit = Infinity;
  if (o.maxLength !== undefined) limit = checkInt('options.maxLength', o.maxLength, 1, MAX_BATCH_WIDTH);
  const padTo = o.padTo ?? 'longest';
  if (padTo !== 'longest') {
    checkInt('options.padTo', padTo, 1, MAX_BATCH_WIDTH);
    limit = Math.min(limit, padTo as number);
  }
  const truncate = o.truncate ?? 'end';
  if (truncate !== 'end' && truncate !== 'start') throw invalidArg('options.truncate', "'end' or 'start'", truncate);

  const B = texts.length;
  const rows: ArrayLike<number>[] = new Array(B);
  const lengths = new Int32Array(B);
  const extra = (bosId >= 0 ? 1 : 0) + (eosId >= 0 ? 1 : 0);
  let longest = 0;
  for (let b = 0; b < B; b++) {
    const core = encodeCore(texts[b] as string);
    rows[b] = core;
    const coreLen = core.length === 0 ? 1 : core.length;
    const len = Math.min(coreLen + extra, limit);
    lengths[b] = len;
    if (len > longest) longest = len;
  }
  const T = padTo === 'longest' ? longest : (padTo as number);
  const ids = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    let core = rows[b] as ArrayLike<number>;
    if (core.length === 0) core = [unkId];
    const len = lengths[b] as number;
    let pos = b * T;
    const end = pos + len;
    // Room for core tokens once BOS/EOS that fit are placed (BOS first, then EOS).
    let room = len;
    const putBos = bosId >= 0 && room > 0;
    if (putBos) room--;
    const putEos = eosId >= 0 && room > 0;
    if (putEos) room--;
    if (putBos) ids[pos++] = bosId;
    const n = Math.min(room, core.length);
    const start = truncate === 'end' ? 0 : core.length - n;
    for (let i = 0; i < n; i++) ids[pos++] = core[start + i] as number;
    if (putEos) ids[pos++] = eosId;
    if (pos !== end) throw new Error('encodeBatch: internal length mismatch');
  }
  return { ids, lengths, shape: [B, T] };
}

/** Adds BOS / EOS ids around `core` (−1 means absent). */
export function withSpecials(core: number[], bosId: number, eosId: number): Int32Array {
  const extra = (bosId >= 0 ? 1 : 0) + (eosId >= 0 ? 1 : 0);
  const out = new Int32Array(core.length + extra);
  let p = 0;
  if (bosId >= 0) out[p++] = bosId;
  for (let i = 0; i < core.length; i++) out[p++] = core[i] as number;
  if (eosId >= 0) out[p++] = eosId;
  return out;
}

/** Checks that `ids` is an array-like of integers (used by `decode`). */
/**
 * The text pieces of `ids`, concatenated: padding, BOS and EOS skipped, `<unk>` shown as U+FFFD.
 * Shared by the tokenizers whose pieces join without separators (characters, BPE pieces).
 */
export function joinPieces(ids: unknown, vocab: { padId: number; bosId: number; eosId: number; unkId: number; token(id: number): string }): string {
  const a = checkIds(ids);
  let out = '';
  for (let i = 0; i < a.length; i++) {
    const id = a[i] as number;
    if (id === vocab.padId || id === vocab.bosId || id === vocab.eosId) continue;
    out += id === vocab.unkId ? '\ufffd' : vocab.token(id);
  }
  return out;
}

export function checkIds(ids: unknown): ArrayLike<number> {
  if (Array.isArray(ids) || ids instanceof Int32Array || ids instanceof Uint32Array || ids instanceof Uint16Array) {
    return ids as ArrayLike<number>;
  }
  if (ids instanceof Float32Array || ids instanceof Float64Array) return ids;
  throw invalidArg('ids', 'Int32Array or array of token ids', ids);
}
