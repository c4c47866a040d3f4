/**
 * Character-level tokenizer: one id per Unicode code point (not per UTF-16 unit, so an emoji
 * outside the BMP is one token) of the normalised text. Runs of whitespace become one space and
 * the ends are trimmed (`collapseWhitespace`, default true). Characters outside the vocabulary
 * become `<unk>`, which `decode` shows as U+FFFD.
 */

import { invalidArg } from '../errors.js';
import {
  type EncodeBatchOptions,
  type EncodedBatch,
  checkBool,
  checkInt,
  checkTexts,
  encodeBatchWith,
  formatError,
  isRecord,
  joinPieces,
  withSpecials,
} from './common.js';
import { type NormalizeOptions, type ResolvedNormalizeOptions, collapseWhitespace, normalizeText, resolveNormalize } from './text.js';
import { Vocab, type VocabJSON } from './Vocab.js';

/** Options fixing how text is split (stored with the tokenizer). */
export interface CharTokenizerOptions extends NormalizeOptions {
  /** Collapse whitespace runs to one space and trim. Default true. */
  collapseWhitespace?: boolean;
  /** Add `<bos>` before each sequence. Default false. */
  bos?: boolean;
  /** Add `<eos>` after each sequence. Default false. */
  eos?: boolean;
}

/** Options of {@link CharTokenizer.train}. */
export interface CharTrainOptions extends CharTokenizerOptions {
  /** Keep characters seen at least this many times. Default 1. */
  minCount?: number;
  /** Largest vocabulary size, specials included. Default: no limit. */
  maxSize?: number;
}

/** Resolved, serialisable settings of a {@link CharTokenizer}. */
export interface CharTokenizerConfig extends ResolvedNormalizeOptions {
  collapseWhitespace: boolean;
}

/** JSON form of a {@link CharTokenizer}. */
export interface CharTokenizerJSON {
  kind: 'char';
  version: 1;
  config: CharTokenizerConfig;
  vocab: VocabJSON;
}

function resolveCharConfig(o: CharTokenizerOptions, check: (name: string, v: unknown) => void): CharTokenizerConfig {
  const norm = resolveNormalize(o, check);
  const collapse = o.collapseWhitespace ?? true;
  check('collapseWhitespace', collapse);
  return { ...norm, collapseWhitespace: collapse };
}

/** Character-level tokenizer. Build with {@link CharTokenizer.train} or from JSON. */
export class CharTokenizer {
  readonly kind = 'char' as const;
  readonly vocab: Vocab;
  readonly config: Readonly<CharTokenizerConfig>;

  constructor(vocab: Vocab, config: CharTokenizerConfig) {
    this.vocab = vocab;
    this.config = Object.freeze({ ...config });
  }

  /** Learns the character set of `texts` (characters seen ≥ `minCount` times, most frequent first). */
  static train(texts: readonly string[], options: CharTrainOptions = {}): CharTokenizer {
    checkTexts('texts', texts);
    if (!isRecord(options as unknown)) throw invalidArg('options', 'object', options);
    const config = resolveCharConfig(options, (n, v) => checkBool(`options.${n}`, v));
    if (options.minCount !== undefined) checkInt('options.minCount', options.minCount, 1);
    const counts = new Map<string, number>();
    for (const text of texts) {
      for (const c of prepare(text, config)) counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    const vocab = Vocab.fromCounts(counts, {
      bos: options.bos ?? false,
      eos: options.eos ?? false,
      ...(options.minCount !== undefined ? { minCount: options.minCount } : {}),
      ...(options.maxSize !== undefined ? { maxSize: options.maxSize } : {}),
    });
    return new CharTokenizer(vocab, config);
  }

  /** Rebuilds a tokenizer from {@link toJSON}'s output (untrusted input is validated). */
  static fromJSON(json: unknown, file?: string): CharTokenizer {
    if (!isRecord(json) || json.kind !== 'char') throw formatError(file, 'expected a char tokenizer object');
    if (json.version !== 1) throw formatError(file, `unsupported char tokenizer version ${String(json.version)}`);
    if (!isRecord(json.config)) throw formatError(file, 'config must be an object');
    const config = resolveCharConfig(json.config as CharTokenizerOptions, (n, v) => {
      if (typeof v !== 'boolean') throw formatError(file, `config.${n} must be a boolean`);
    });
    const vocab = Vocab.fromJSON(json.vocab, file);
    for (let i = vocab.numSpecials; i < vocab.size; i++) {
      const t = vocab.tokens[i] as string;
      const cp = t.codePointAt(0) as number;
      if (t.length !== (cp > 0xffff ? 2 : 1)) throw formatError(file, `char vocab token ${i} is not one code point`);
    }
    return new CharTokenizer(vocab, config);
  }

  /** Vocabulary size (the embedding table's row count). */
  get vocabSize(): number {
    return this.vocab.size;
  }

  /** The characters (code points) of the normalised `text`. */
  tokenize(text: string): string[] {
    if (typeof text !== 'string') throw invalidArg('text', 'string', text);
    return Array.from(prepare(text, this.config));
  }

  /** Ids of `text` (with BOS/EOS when the vocabulary has them). Empty text → no ids. */
  encode(text: string): Int32Array {
    return withSpecials(this.#core(text), this.vocab.bosId, this.vocab.eosId);
  }

  /** Encodes and pads a batch; see {@link EncodeBatchOptions}. */
  encodeBatch(texts: readonly string[], options?: EncodeBatchOptions): EncodedBatch {
    return encodeBatchWith(texts, options, (t) => this.#core(t), this.vocab.unkId, this.vocab.bosId, this.vocab.eosId);
  }

  /** Text of `ids`: characters concatenated; pad/BOS/EOS skipped; `<unk>` → U+FFFD. */
  decode(ids: ArrayLike<number>): string {
    return joinPieces(ids, this.vocab);
  }

  /** JSON form, stored in the model file. */
  toJSON(): CharTokenizerJSON {
    return { kind: 'char', version: 1, config: { ...this.config }, vocab: this.vocab.toJSON() };
  }

  #core(text: string): number[] {
    if (typeof text !== 'string') throw invalidArg('text', 'string', text);
    const v = this.vocab;
    const out: number[] = [];
    for (const c of prepare(text, this.config)) out.push(v.id(c));
    return out;
  }
}

function prepare(text: string, config: CharTokenizerConfig): string {
  const s = normalizeText(text, config);
  return config.collapseWhitespace ? collapseWhitespace(s) : s;
}
