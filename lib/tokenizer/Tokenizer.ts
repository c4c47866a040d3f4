/**
 * The tokenizer interface shared by the word, character and BPE tokenizers, and
 * {@link tokenizerFromJSON}, which rebuilds any of them from the JSON stored in a model file.
 *
 * Conventions of every tokenizer:
 * - id 0 is `<pad>`, id 1 is `<unk>`; `<bos>` / `<eos>` follow when the tokenizer was trained
 *   with `bos` / `eos`, and are then added around every encoded sequence;
 * - `encode('')` (or a text with nothing but whitespace / removed characters) returns no ids
 *   (or only BOS/EOS), but in `encodeBatch` such a row holds a single `<unk>`, so every length
 *   is ≥ 1 (a recurrent layer needs at least one step);
 * - `encodeBatch` pads at the end with id 0 and reports each row's length.
 */


import { BpeTokenizer, type BpeTokenizerJSON } from './BpeTokenizer.js';
import { CharTokenizer, type CharTokenizerJSON } from './CharTokenizer.js';
import { type EncodeBatchOptions, type EncodedBatch, formatError, isRecord } from './common.js';
import type { Vocab } from './Vocab.js';
import { WordTokenizer, type WordTokenizerJSON } from './WordTokenizer.js';
import { HybridTokenizer, type HybridTokenizerJSON } from './HybridTokenizer.js';

export type { EncodeBatchOptions, EncodedBatch } from './common.js';

/** What every rnnx tokenizer offers. */
export interface Tokenizer {
  readonly kind: 'word' | 'char' | 'bpe' | 'hybrid';
  /** The vocabulary (pad id 0, unk id 1). */
  readonly vocab: Vocab;
  /** Number of ids (rows of the embedding table). */
  readonly vocabSize: number;
  /** Token strings of `text`, for inspection. */
  tokenize(text: string): string[];
  /** Ids of one text. */
  encode(text: string): Int32Array;
  /** Ids of many texts, padded into a [B, T] batch with lengths. */
  encodeBatch(texts: readonly string[], options?: EncodeBatchOptions): EncodedBatch;
  /** Text of ids (padding and BOS/EOS skipped). */
  decode(ids: ArrayLike<number>): string;
  /** JSON form, for the model file's metadata. */
  toJSON(): TokenizerJSON;
}

/** JSON form of any tokenizer. */
export type TokenizerJSON = WordTokenizerJSON | CharTokenizerJSON | BpeTokenizerJSON | HybridTokenizerJSON;

/**
 * Rebuilds a tokenizer from its JSON (an object, or a JSON string), dispatching on `kind`.
 * The input is treated as untrusted: anything malformed throws a `ModelFormatError` naming `file`
 * when given, else an `InvalidArgumentError`.
 */
export function tokenizerFromJSON(json: unknown, file?: string): Tokenizer {
  let value = json;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value) as unknown;
    } catch (e) {
      throw formatError(file, `tokenizer JSON does not parse (${(e as Error).message})`);
    }
  }
  if (!isRecord(value)) throw formatError(file, 'tokenizer must be an object');
  switch (value.kind) {
    case 'word':
      return WordTokenizer.fromJSON(value, file);
    case 'char':
      return CharTokenizer.fromJSON(value, file);
    case 'bpe':
      return BpeTokenizer.fromJSON(value, file);
    case 'hybrid':
      return HybridTokenizer.fromJSON(value, file);
    default:
      throw formatError(file, `unknown tokenizer kind ${JSON.stringify(String(value.kind)).slice(0, 60)}`);
  }
}

/** Whether `value` is an rnnx tokenizer instance. */
export function isTokenizer(value: unknown): value is Tokenizer {
  return value instanceof WordTokenizer || value instanceof CharTokenizer || value instanceof BpeTokenizer || value instanceof HybridTokenizer;
}

