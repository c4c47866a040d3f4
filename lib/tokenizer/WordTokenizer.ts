/**
 * Word-level tokenizer: normalisation + the word rules of `text.ts`, one id per word.
 *
 * Numbers are kept as words (`numbers: 'keep'`, default) or all mapped to the special token
 * `<num>` (`numbers: 'token'`). Out-of-vocabulary words become `<unk>`.
 */

import { invalidArg } from '../errors.js';
import {
  type EncodeBatchOptions,
  type EncodedBatch,
  checkBool,
  checkIds,
  checkInt,
  checkTexts,
  encodeBatchWith,
  formatError,
  isRecord,
  withSpecials,
} from './common.js';
import {
  type NormalizeOptions,
  type ResolvedNormalizeOptions,
  PieceKind,
  normalizeText,
  pretokenize,
  resolveNormalize,
} from './text.js';
import { Vocab, type VocabJSON } from './Vocab.js';

/** The special token numbers map to with `numbers: 'token'`. */
export const NUM = '<num>';

/** Options fixing how text is split (stored with the tokenizer). */
export interface WordTokenizerOptions extends NormalizeOptions {
  /** `'keep'` (default): numbers are words; `'token'`: every number becomes `<num>`. */
  numbers?: 'keep' | 'token';
  /** Split English clitics: `what's` → `what`, `'s`; `don't` → `do`, `n't`. Default true. */
  contractions?: boolean;
  /** Add `<bos>` before each sequence. Default false. */
  bos?: boolean;
  /** Add `<eos>` after each sequence. Default false. */
  eos?: boolean;
}

/** Options of {@link WordTokenizer.train}. */
export interface WordTrainOptions extends WordTokenizerOptions {
  /** Keep words seen at least this many times. Default 1. */
  minCount?: number;
  /** Largest vocabulary size, specials included. Default: no limit. */
  maxSize?: number;
}

/** Resolved, serialisable settings of a {@link WordTokenizer}. */
export interface WordTokenizerConfig extends ResolvedNormalizeOptions {
  numbers: 'keep' | 'token';
  contractions: boolean;
}

/** JSON form of a {@link WordTokenizer}. */
export interface WordTokenizerJSON {
  kind: 'word';
  version: 1;
  config: WordTokenizerConfig;
  vocab: VocabJSON;
}

const CLOSING = /^(?:[.,!?;:%)\]}»…]|'.*|n't)$/u;
const OPENING = /^[(\[{«¿¡$#@]$/u;

/** Resolves and checks word tokenizer settings. */
function resolveWordConfig(o: WordTokenizerOptions, check: (name: string, v: unknown) => void): WordTokenizerConfig {
  const norm = resolveNormalize(o, check);
  const numbers = o.numbers ?? 'keep';
  if (numbers !== 'keep' && numbers !== 'token') throw invalidArg('options.numbers', "'keep' or 'token'", numbers);
  const contractions = o.contractions ?? true;
  check('contractions', contractions);
  return { ...norm, numbers, contractions };
}

/** Word-level tokenizer. Build with {@link WordTokenizer.train} or from JSON. */
export class WordTokenizer {
  readonly kind = 'word' as const;
  readonly vocab: Vocab;
  readonly config: Readonly<WordTokenizerConfig>;

  constructor(vocab: Vocab, config: WordTokenizerConfig) {
    this.vocab = vocab;
    this.config = Object.freeze({ ...config });
    if (config.numbers === 'token' && !vocab.has(NUM)) {
      throw invalidArg('vocab', `vocabulary with "${NUM}" (numbers: 'token')`, vocab.tokens.length);
    }
  }

  /**
   * Learns a vocabulary from `texts`: words with at least `minCount` occurrences, most frequent
   * first (ties by string order), at most `maxSize` tokens with the specials.
   */
  static train(texts: readonly string[], options: WordTrainOptions = {}): WordTokenizer {
    checkTexts('texts', texts);
    if (!isRecord(options as unknown)) throw invalidArg('options', 'object', options);
    const config = resolveWordConfig(options, (n, v) => checkBool(`options.${n}`, v));
    const counts = new Map<string, number>();
    for (const text of texts) {
      for (const w of splitWordTokens(text, config)) counts.set(w, (counts.get(w) ?? 0) + 1);
    }
    const extraSpecials = config.numbers === 'token' ? [NUM] : [];
    const vocabOptions = { bos: options.bos ?? false, eos: options.eos ?? false, extraSpecials };
    if (options.minCount !== undefined) checkInt('options.minCount', options.minCount, 1);
    const vocab = Vocab.fromCounts(counts, {
      ...vocabOptions,
      ...(options.minCount !== undefined ? { minCount: options.minCount } : {}),
      ...(options.maxSize !== undefined ? { maxSize: options.maxSize } : {}),
    });
    return new WordTokenizer(vocab, config);
  }

  /** Rebuilds a tokenizer from {@link toJSON}'s output (untrusted input is validated). */
  static fromJSON(json: unknown, file?: string): WordTokenizer {
    if (!isRecord(json) || json.kind !== 'word') throw formatError(file, 'expected a word tokenizer object');
    if (json.version !== 1) throw formatError(file, `unsupported word tokenizer version ${String(json.version)}`);
    if (!isRecord(json.config)) throw formatError(file, 'config must be an object');
    const c = json.config;
    let config: WordTokenizerConfig;
    try {
      config = resolveWordConfig(c as WordTokenizerOptions, (n, v) => {
        if (typeof v !== 'boolean') throw formatError(file, `config.${n} must be a boolean`);
      });
    } catch (e) {
      if ((e as { code?: string }).code === 'RNNX_INVALID_ARGUMENT' && file !== undefined) {
        throw formatError(file, (e as Error).message);
      }
      throw e;
    }
    const vocab = Vocab.fromJSON(json.vocab, file);
    if (config.numbers === 'token' && !(vocab.has(NUM) && vocab.isSpecial(vocab.id(NUM)))) {
      throw formatError(file, `numbers: 'token' needs the special token "${NUM}"`);
    }
    return new WordTokenizer(vocab, config);
  }

  /** Vocabulary size (the embedding table's row count). */
  get vocabSize(): number {
    return this.vocab.size;
  }

  /** The word strings of `text` after normalisation (no BOS/EOS, no vocabulary lookup). */
  tokenize(text: string): string[] {
    if (typeof text !== 'string') throw invalidArg('text', 'string', text);
    return splitWordTokens(text, this.config);
  }

  /** Ids of `text` (with BOS/EOS when the vocabulary has them). Empty text → no ids. */
  encode(text: string): Int32Array {
    return withSpecials(this.#core(text), this.vocab.bosId, this.vocab.eosId);
  }

  /** Encodes and pads a batch; see {@link EncodeBatchOptions}. */
  encodeBatch(texts: readonly string[], options?: EncodeBatchOptions): EncodedBatch {
    return encodeBatchWith(texts, options, (t) => this.#core(t), this.vocab.unkId, this.vocab.bosId, this.vocab.eosId);
  }

  /**
   * Text of `ids`: words joined by spaces, with no space before closing punctuation and clitics
   * (`'s`, `n't`) and none after opening brackets. Padding, BOS and EOS are skipped; unknown words
   * show as `<unk>`.
   */
  decode(ids: ArrayLike<number>): string {
    const a = checkIds(ids);
    let out = '';
    let glueNext = true;
    for (let i = 0; i < a.length; i++) {
      const id = a[i] as number;
      if (id === this.vocab.padId || id === this.vocab.bosId || id === this.vocab.eosId) continue;
      const t = this.vocab.token(id);
      if (!glueNext && !CLOSING.test(t)) out += ' ';
      out += t;
      glueNext = OPENING.test(t);
    }
    return out;
  }

  /** JSON form, stored in the model file. */
  toJSON(): WordTokenizerJSON {
    return { kind: 'word', version: 1, config: { ...this.config }, vocab: this.vocab.toJSON() };
  }

  #core(text: string): number[] {
    if (typeof text !== 'string') throw invalidArg('text', 'string', text);
    const v = this.vocab;
    const out: number[] = [];
    const num = this.config.numbers === 'token';
    const norm = normalizeText(text, this.config);
    pretokenize(norm, this.config, (p, kind) => {
      out.push(num && kind === PieceKind.Number ? v.id(NUM) : v.id(p));
    });
    return out;
  }
}

function splitWordTokens(text: string, config: WordTokenizerConfig): string[] {
  const out: string[] = [];
  const num = config.numbers === 'token';
  pretokenize(normalizeText(text, config), config, (p, kind) => {
    out.push(num && kind === PieceKind.Number ? NUM : p);
  });
  return out;
}
