/**
 * Vocabulary: a bijection between token strings and integer ids.
 *
 * The first ids are reserved for special tokens, in this order:
 * `<pad>` = 0, `<unk>` = 1, then `<bos>` and `<eos>` when enabled, then any extra specials
 * (e.g. `<num>`). Regular tokens follow. Lookups of unknown tokens give the `<unk>` id.
 */

import { invalidArg } from '../errors.js';
import { checkBool, checkInt, formatError, isRecord } from './common.js';

/** Serialised form of a {@link Vocab} (stored in the model file's metadata). */
export interface VocabJSON {
  /** Every token, in id order. */
  tokens: string[];
  /** How many leading entries of `tokens` are special tokens (at least 2: `<pad>`, `<unk>`). */
  specials: number;
}

/** Options of {@link Vocab.fromCounts} and {@link Vocab.fromTokens}. */
export interface VocabBuildOptions {
  /** Reserve `<bos>` (begin of sequence). Default false. */
  bos?: boolean;
  /** Reserve `<eos>` (end of sequence). Default false. */
  eos?: boolean;
  /** More special tokens, after `<pad>`, `<unk>`, `<bos>`, `<eos>` (e.g. `['<num>']`). */
  extraSpecials?: readonly string[];
}

/** Options of {@link Vocab.fromCounts}. */
export interface VocabCountOptions extends VocabBuildOptions {
  /** Drop tokens seen fewer times. Default 1. */
  minCount?: number;
  /** Largest vocabulary size, special tokens included. Default: no limit. */
  maxSize?: number;
}

/** Largest vocabulary accepted (from JSON or built). */
export const MAX_VOCAB_SIZE = 4_000_000;
/** Longest token accepted, in UTF-16 code units. */
export const MAX_TOKEN_LENGTH = 1024;

export const PAD = '<pad>';
export const UNK = '<unk>';
export const BOS = '<bos>';
export const EOS = '<eos>';

/** Token ↔ id mapping with reserved special tokens. */
export class Vocab {
  /** Id of `<pad>`: always 0. */
  readonly padId = 0;
  /** Id of `<unk>`: always 1. */
  readonly unkId = 1;
  /** Id of `<bos>`, or −1 when the vocabulary has none. */
  readonly bosId: number;
  /** Id of `<eos>`, or −1 when the vocabulary has none. */
  readonly eosId: number;
  /** Number of special tokens (they take ids 0 … numSpecials−1). */
  readonly numSpecials: number;

  readonly #tokens: readonly string[];
  readonly #ids: Map<string, number>;

  /**
   * Builds a vocabulary from a complete token list. Prefer {@link fromTokens},
   * {@link fromCounts} or {@link fromJSON}.
   * @param tokens every token in id order; the first `numSpecials` are special, and must start
   *   with `<pad>`, `<unk>`
   * @param file model file name for error messages when the list comes from a file
   */
  constructor(tokens: readonly string[], numSpecials: number, file?: string) {
    const fail = (reason: string): Error => formatError(file, `vocab: ${reason}`);
    if (!Array.isArray(tokens)) throw fail('tokens must be an array of strings');
    if (tokens.length > MAX_VOCAB_SIZE) throw fail(`${tokens.length} tokens exceed the limit of ${MAX_VOCAB_SIZE}`);
    if (typeof numSpecials !== 'number' || !Number.isInteger(numSpecials) || numSpecials < 2 || numSpecials > tokens.length) {
      throw fail(`specials must be an integer in [2, ${tokens.length}]`);
    }
    if (tokens[0] !== PAD || tokens[1] !== UNK) throw fail(`the first tokens must be "${PAD}", "${UNK}"`);
    const ids = new Map<string, number>();
    for (let i = 0; i < tokens.length; i++) {
      const t: unknown = tokens[i];
      if (typeof t !== 'string') throw fail(`token ${i} is not a string`);
      if (t.length === 0) throw fail(`token ${i} is empty`);
      if (t.length > MAX_TOKEN_LENGTH) throw fail(`token ${i} is longer than ${MAX_TOKEN_LENGTH}`);
      if (ids.has(t)) throw fail(`token ${JSON.stringify(t.slice(0, 40))} appears twice (ids ${ids.get(t)} and ${i})`);
      ids.set(t, i);
    }
    const bos = ids.get(BOS);
    const eos = ids.get(EOS);
    if ((bos !== undefined && bos >= numSpecials) || (eos !== undefined && eos >= numSpecials)) {
      throw fail(`"${BOS}" / "${EOS}" must be special tokens`);
    }
    this.#tokens = Object.freeze(tokens.slice());
    this.#ids = ids;
    this.numSpecials = numSpecials;
    this.bosId = bos ?? -1;
    this.eosId = eos ?? -1;
  }

  /** Specials + `tokens` (duplicates and tokens equal to a special are skipped, first kept). */
  static fromTokens(tokens: Iterable<string>, options: VocabBuildOptions = {}): Vocab {
    const specials = buildSpecials(options);
    const all = specials.slice();
    const seen = new Set(all);
    for (const t of tokens) {
      if (typeof t !== 'string') throw invalidArg('tokens', 'strings', t);
      if (t === '' || seen.has(t)) continue;
      seen.add(t);
      all.push(t);
    }
    return new Vocab(all, specials.length);
  }

  /**
   * Builds a vocabulary from token counts: tokens seen at least `minCount` times, most frequent
   * first; ties are broken by the tokens' string order (UTF-16 code units), so the result is the
   * same whatever the order of `counts`. At most `maxSize` tokens in all (specials included).
   */
  static fromCounts(
    counts: ReadonlyMap<string, number> | Iterable<readonly [string, number]>,
    options: VocabCountOptions = {},
  ): Vocab {
    const specials = buildSpecials(options);
    const minCount = checkInt('options.minCount', options.minCount ?? 1, 1);
    const maxSize =
      options.maxSize === undefined
        ? MAX_VOCAB_SIZE
        : checkInt('options.maxSize', options.maxSize, specials.length, MAX_VOCAB_SIZE);
    const special = new Set(specials);
    const entries: [string, number][] = [];
    const seen = new Set<string>();
    for (const [t, c] of counts as Iterable<readonly [string, number]>) {
      if (typeof t !== 'string') throw invalidArg('counts', 'string tokens', t);
      if (typeof c !== 'number' || !(c >= 0)) throw invalidArg(`counts[${JSON.stringify(t)}]`, 'non-negative count', c);
      if (t === '' || special.has(t) || c < minCount || t.length > MAX_TOKEN_LENGTH) continue;
      if (seen.has(t)) throw invalidArg('counts', 'distinct tokens', t);
      seen.add(t);
      entries.push([t, c]);
    }
    entries.sort(byCountThenToken);
    const room = maxSize - specials.length;
    const tokens = specials.concat(entries.slice(0, room).map((e) => e[0]));
    return new Vocab(tokens, specials.length);
  }

  /** Rebuilds a vocabulary from {@link toJSON}'s output, validating it (untrusted input). */
  static fromJSON(json: unknown, file?: string): Vocab {
    if (!isRecord(json)) throw formatError(file, 'vocab must be an object');
    const { tokens, specials } = json;
    if (!Array.isArray(tokens)) throw formatError(file, 'vocab.tokens must be an array of strings');
    if (typeof specials !== 'number') throw formatError(file, 'vocab.specials must be a number');
    return new Vocab(tokens as string[], specials, file);
  }

  /** Number of tokens, specials included. */
  get size(): number {
    return this.#tokens.length;
  }

  /** Id of `token`, or the `<unk>` id when it is not in the vocabulary. */
  id(token: string): number {
    const id = this.#ids.get(token);
    return id === undefined ? this.unkId : id;
  }

  /** Id of `token`, or undefined. */
  get(token: string): number | undefined {
    return this.#ids.get(token);
  }

  /** Whether `token` is in the vocabulary. */
  has(token: string): boolean {
    return this.#ids.has(token);
  }

  /** Token string of `id`; throws InvalidArgumentError when out of range. */
  token(id: number): string {
    const t = this.#tokens[id];
    if (t === undefined || !Number.isInteger(id)) {
      throw invalidArg('id', `token id in [0, ${this.#tokens.length - 1}]`, id);
    }
    return t;
  }

  /** Whether `id` is a special token's id. */
  isSpecial(id: number): boolean {
    return id >= 0 && id < this.numSpecials;
  }

  /** Every token, in id order (frozen). */
  get tokens(): readonly string[] {
    return this.#tokens;
  }

  /** JSON form, for the model file. */
  toJSON(): VocabJSON {
    return { tokens: this.#tokens.slice(), specials: this.numSpecials };
  }
}

function byCountThenToken(a: [string, number], b: [string, number]): number {
  if (a[1] !== b[1]) return b[1] - a[1];
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** The special tokens selected by `options`, in id order. */
export function buildSpecials(options: VocabBuildOptions): string[] {
  if (typeof options !== 'object' || options === null) throw invalidArg('options', 'object', options);
  const bos = options.bos ?? false;
  const eos = options.eos ?? false;
  checkBool('options.bos', bos);
  checkBool('options.eos', eos);
  const out = [PAD, UNK];
  if (bos) out.push(BOS);
  if (eos) out.push(EOS);
  const extra = options.extraSpecials ?? [];
  if (!Array.isArray(extra)) throw invalidArg('options.extraSpecials', 'array of strings', extra);
  for (const s of extra as unknown[]) {
    if (typeof s !== 'string' || s === '' || s.length > MAX_TOKEN_LENGTH) {
      throw invalidArg('options.extraSpecials', 'non-empty strings', s);
    }
    if (!out.includes(s)) out.push(s);
  }
  return out;
}
