/**
 * Trainable subword tokenizer: character-level byte-pair encoding (BPE) over Unicode code points.
 *
 * Text is normalised (as in `text.ts`), whitespace is collapsed, and the word rules split it into
 * pieces. Each piece that starts a word — the first piece of the text, or one preceded by
 * whitespace — gets the marker `▁` (U+2581) in front, as in SentencePiece, so `decode` can put the
 * spaces back: decoding the ids of a text gives back its normalised form exactly (whitespace
 * collapsed to single spaces, ends trimmed, a literal `▁` in the input read as a space) as long as
 * every character is in the alphabet. Characters outside the alphabet become `<unk>` (decoded as
 * U+FFFD); there is no byte fallback.
 *
 * Training starts from the alphabet (all characters of the training text, most frequent first;
 * the rarest are dropped when they would not fit in `vocabSize`) and repeatedly merges the most
 * frequent adjacent pair of symbols inside the pieces. Ties go to the pair whose left, then right,
 * symbol string sorts first, so the same texts always give the same merges. Merging stops at
 * `vocabSize` tokens or when the best pair occurs fewer than `minFrequency` times. Pieces never
 * merge across piece boundaries, so a token never spans two words or a word and punctuation.
 *
 * Encoding applies the learned merges by rank (lowest first, leftmost first among equal ranks)
 * with a priority queue over a linked list of symbols: O(n log n) per piece, and pieces are cached.
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
import { Heap, NumberHeap } from './heap.js';
import { type NormalizeOptions, type ResolvedNormalizeOptions, normalizeText, pretokenize, resolveNormalize } from './text.js';
import { MAX_TOKEN_LENGTH, Vocab, type VocabJSON, buildSpecials } from './Vocab.js';

/** The word-start marker (U+2581, as in SentencePiece). */
export const WORD_START = '\u2581';

/** Largest BPE vocabulary (ids must fit in 21 bits for the pair keys). */
export const MAX_BPE_VOCAB = 1 << 20;
const PAIR = 1 << 21;
const CACHE_LIMIT = 100_000;

/** Options fixing how text is split (stored with the tokenizer). */
export interface BpeTokenizerOptions extends NormalizeOptions {
  /** Split English clitics before merging (`what's` → `▁what`, `'s`). Default true. */
  contractions?: boolean;
  /** Add `<bos>` before each sequence. Default false. */
  bos?: boolean;
  /** Add `<eos>` after each sequence. Default false. */
  eos?: boolean;
}

/** Options of {@link BpeTokenizer.train}. */
export interface BpeTrainOptions extends BpeTokenizerOptions {
  /** Target vocabulary size, specials and alphabet included. Default 4000. */
  vocabSize?: number;
  /** Stop when the most frequent pair occurs fewer times than this. Default 2. */
  minFrequency?: number;
}

/** Resolved, serialisable settings of a {@link BpeTokenizer}. */
export interface BpeTokenizerConfig extends ResolvedNormalizeOptions {
  contractions: boolean;
}

/** JSON form of a {@link BpeTokenizer}. */
export interface BpeTokenizerJSON {
  kind: 'bpe';
  version: 1;
  config: BpeTokenizerConfig;
  vocab: VocabJSON;
  /** Merges in rank order: `[left, right]` token strings; `left + right` is in the vocabulary. */
  merges: [string, string][];
}

function resolveBpeConfig(o: BpeTokenizerOptions, check: (name: string, v: unknown) => void): BpeTokenizerConfig {
  const norm = resolveNormalize(o, check);
  const contractions = o.contractions ?? true;
  check('contractions', contractions);
  return { ...norm, contractions };
}

/** The pieces of `text`, each with `▁` in front when it starts a word. */
function bpeWords(text: string, config: BpeTokenizerConfig, sink: (word: string) => void): void {
  let s = normalizeText(text, config);
  if (s.includes(WORD_START)) s = s.replaceAll(WORD_START, ' ');
  let first = true;
  pretokenize(s, config, (piece, _kind, space) => {
    sink(first || space ? WORD_START + piece : piece);
    first = false;
  });
}

/** Character-level BPE tokenizer. Build with {@link BpeTokenizer.train} or from JSON. */
export class BpeTokenizer {
  readonly kind = 'bpe' as const;
  readonly vocab: Vocab;
  readonly config: Readonly<BpeTokenizerConfig>;
  /** Merges in rank order, as token id pairs. */
  readonly #merges: readonly (readonly [number, number])[];
  /** pair key (left * 2^21 + right) → rank. */
  readonly #rank = new Map<number, number>();
  /** rank → id of the merged token. */
  readonly #result: Int32Array;
  readonly #cache = new Map<string, Int32Array>();
  readonly #heap = new NumberHeap();

  /**
   * @param merges `[leftId, rightId]` in rank order; `token(left) + token(right)` must be in the
   *   vocabulary. Use {@link train} or {@link fromJSON} rather than this constructor.
   */
  constructor(vocab: Vocab, merges: readonly (readonly [number, number])[], config: BpeTokenizerConfig) {
    if (vocab.size > MAX_BPE_VOCAB) throw invalidArg('vocab', `vocabulary of at most ${MAX_BPE_VOCAB} tokens`, vocab.size);
    this.vocab = vocab;
    this.config = Object.freeze({ ...config });
    this.#merges = merges.map(([a, b]) => [a, b] as const);
    this.#result = new Int32Array(merges.length);
    for (let r = 0; r < merges.length; r++) {
      const [a, b] = merges[r] as readonly [number, number];
      const id = vocab.get(vocab.token(a) + vocab.token(b));
      if (id === undefined || vocab.isSpecial(a) || vocab.isSpecial(b)) {
        throw invalidArg(`merges[${r}]`, 'merge of two regular tokens whose concatenation is in the vocabulary', [a, b]);
      }
      const key = a * PAIR + b;
      if (!this.#rank.has(key)) this.#rank.set(key, r);
      this.#result[r] = id;
    }
  }

  /** Learns an alphabet and merges from `texts` (see the module comment). */
  static train(texts: readonly string[], options: BpeTrainOptions = {}): BpeTokenizer {
    checkTexts('texts', texts);
    if (!isRecord(options as unknown)) throw invalidArg('options', 'object', options);
    const config = resolveBpeConfig(options, (n, v) => checkBool(`options.${n}`, v));
    const specials = buildSpecials({ bos: options.bos ?? false, eos: options.eos ?? false });
    const vocabSize = checkInt('options.vocabSize', options.vocabSize ?? 4000, specials.length + 1, MAX_BPE_VOCAB);
    const minFrequency = checkInt('options.minFrequency', options.minFrequency ?? 2, 1);

    // 1. Piece counts, then character counts weighted by them.
    const wordCounts = new Map<string, number>();
    for (const text of texts) {
      bpeWords(text, config, (w) => wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1));
    }
    const charCounts = new Map<string, number>();
    for (const [w, c] of wordCounts) {
      for (const ch of w) charCounts.set(ch, (charCounts.get(ch) ?? 0) + c);
    }
    const alphabet = [...charCounts].sort((x, y) => (x[1] !== y[1] ? y[1] - x[1] : x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    const tokens = specials.concat(alphabet.slice(0, vocabSize - specials.length).map((e) => e[0]));
    const ids = new Map<string, number>();
    tokens.forEach((t, i) => ids.set(t, i));
    const UNK = 1;

    // 2. Words as symbol id arrays.
    const words: number[][] = [];
    const freq: number[] = [];
    for (const [w, c] of wordCounts) {
      const syms: number[] = [];
      for (const ch of w) syms.push(ids.get(ch) ?? UNK);
      words.push(syms);
      freq.push(c);
    }

    // 3. Pair statistics: count and the words that contain the pair (may hold stale entries).
    const pairCount = new Map<number, number>();
    const pairWords = new Map<number, number[]>();
    const addPairs = (w: number, sign: number, delta: Map<number, number> | null): void => {
      const s = words[w] as number[];
      const f = (freq[w] as number) * sign;
      for (let i = 0; i + 1 < s.length; i++) {
        const a = s[i] as number;
        const b = s[i + 1] as number;
        if (a === UNK || b === UNK) continue;
        const key = a * PAIR + b;
        pairCount.set(key, (pairCount.get(key) ?? 0) + f);
        if (delta !== null) delta.set(key, 1);
        if (sign > 0) {
          let list = pairWords.get(key);
          if (list === undefined) pairWords.set(key, (list = []));
          if (list[list.length - 1] !== w) list.push(w);
        }
      }
    };
    for (let w = 0; w < words.length; w++) addPairs(w, 1, null);

    const less = (x: readonly [number, number], y: readonly [number, number]): boolean => {
      if (x[0] !== y[0]) return x[0] > y[0];
      const xa = tokens[Math.floor(x[1] / PAIR)] as string;
      const ya = tokens[Math.floor(y[1] / PAIR)] as string;
      if (xa !== ya) return xa < ya;
      return (tokens[x[1] % PAIR] as string) < (tokens[y[1] % PAIR] as string);
    };
    const heap = new Heap<readonly [number, number]>(less);
    for (const [key, c] of pairCount) heap.push([c, key]);

    // 4. Merge loop.
    const merges: [number, number][] = [];
    const mergedRank = new Map<number, number>();
    const stamp = new Int32Array(words.length).fill(-1);
    let pass = 0;
    while (tokens.length < vocabSize) {
      const top = heap.pop();
      if (top === undefined) break;
      const [count, key] = top;
      if (pairCount.get(key) !== count || count <= 0) continue; // stale entry
      if (count < minFrequency) break;
      const a = Math.floor(key / PAIR);
      const b = key % PAIR;
      const merged = (tokens[a] as string) + (tokens[b] as string);
      if (merged.length > MAX_TOKEN_LENGTH) {
        pairCount.set(key, 0);
        continue;
      }
      let id = ids.get(merged);
      if (id === undefined) {
        id = tokens.length;
        tokens.push(merged);
        ids.set(merged, id);
      }
      // A pair can come back after its merge (when another merge rebuilds one of its symbols);
      // it is merged again in the training words but keeps its first rank.
      let rank = mergedRank.get(key);
      if (rank === undefined) {
        rank = merges.length;
        mergedRank.set(key, rank);
        merges.push([a, b]);
      }
      pass++;
      const delta = new Map<number, number>();
      for (const w of pairWords.get(key) ?? []) {
        if (stamp[w] === pass) continue;
        stamp[w] = pass;
        const s = words[w] as number[];
        let found = false;
        for (let i = 0; i + 1 < s.length; i++) {
          if (s[i] === a && s[i + 1] === b) {
            found = true;
            break;
          }
        }
        if (!found) continue;
        addPairs(w, -1, delta);
        const out: number[] = [];
        for (let i = 0; i < s.length; i++) {
          if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
            out.push(id);
            i++;
          } else {
            out.push(s[i] as number);
          }
        }
        words[w] = out;
        addPairs(w, 1, delta);
      }
      pairWords.delete(key);
      pairCount.delete(key);
      delta.delete(key);
      for (const k of delta.keys()) {
        const c = pairCount.get(k) ?? 0;
        if (c > 0) heap.push([c, k]);
        else pairCount.delete(k);
      }
    }
    const vocab = new Vocab(tokens, specials.length);
    return new BpeTokenizer(vocab, merges, config);
  }

  /** Rebuilds a tokenizer from {@link toJSON}'s output (untrusted input is validated). */
  static fromJSON(json: unknown, file?: string): BpeTokenizer {
    if (!isRecord(json) || json.kind !== 'bpe') throw formatError(file, 'expected a bpe tokenizer object');
    if (json.version !== 1) throw formatError(file, `unsupported bpe tokenizer version ${String(json.version)}`);
    if (!isRecord(json.config)) throw formatError(file, 'config must be an object');
    const config = resolveBpeConfig(json.config as BpeTokenizerOptions, (n, v) => {
      if (typeof v !== 'boolean') throw formatError(file, `config.${n} must be a boolean`);
    });
    const vocab = Vocab.fromJSON(json.vocab, file);
    if (vocab.size > MAX_BPE_VOCAB) throw formatError(file, `bpe vocab larger than ${MAX_BPE_VOCAB}`);
    const m = json.merges;
    if (!Array.isArray(m)) throw formatError(file, 'merges must be an array');
    if (m.length > vocab.size) throw formatError(file, `${m.length} merges for a vocabulary of ${vocab.size}`);
    const merges: [number, number][] = [];
    const seen = new Set<number>();
    for (let r = 0; r < m.length; r++) {
      const pair: unknown = m[r];
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
        throw formatError(file, `merges[${r}] must be a pair of strings`);
      }
      const a = vocab.get(pair[0]);
      const b = vocab.get(pair[1]);
      if (a === undefined || b === undefined || vocab.isSpecial(a) || vocab.isSpecial(b)) {
        throw formatError(file, `merges[${r}] uses a token that is not a regular vocabulary token`);
      }
      if (!vocab.has(pair[0] + pair[1])) throw formatError(file, `merges[${r}]: the merged token is not in the vocabulary`);
      const key = a * PAIR + b;
      if (seen.has(key)) throw formatError(file, `merges[${r}] repeats an earlier merge`);
      seen.add(key);
      merges.push([a, b]);
    }
    return new BpeTokenizer(vocab, merges, config);
  }

  /** Vocabulary size (the embedding table's row count). */
  get vocabSize(): number {
    return this.vocab.size;
  }

  /** Number of learned merges. */
  get numMerges(): number {
    return this.#merges.length;
  }

  /** The subword strings of `text` (with `▁` marking word starts; unknown characters as `<unk>`). */
  tokenize(text: string): string[] {
    const out: string[] = [];
    for (const id of this.#core(text)) out.push(this.vocab.token(id));
    return out;
  }

  /** Ids of `text` (with BOS/EOS when the vocabulary has them). Empty text → no ids. */
  encode(text: string): Int32Array {
    return withSpecials(this.#core(text), this.vocab.bosId, this.vocab.eosId);
  }

  /** Encodes and pads a batch; see {@link EncodeBatchOptions}. */
  encodeBatch(texts: readonly string[], options?: EncodeBatchOptions): EncodedBatch {
    return encodeBatchWith(texts, options, (t) => this.#core(t), this.vocab.unkId, this.vocab.bosId, this.vocab.eosId);
  }

  /** Text of `ids`: pieces joined, `▁` → space, leading space dropped; `<unk>` → U+FFFD. */
  decode(ids: ArrayLike<number>): string {
    const out = joinPieces(ids, this.vocab).replaceAll(WORD_START, ' ');
    return out.startsWith(' ') ? out.slice(1) : out;
  }

  /** JSON form, stored in the model file. */
  toJSON(): BpeTokenizerJSON {
    const t = this.vocab.tokens;
    return {
      kind: 'bpe',
      version: 1,
      config: { ...this.config },
      vocab: this.vocab.toJSON(),
      merges: this.#merges.map(([a, b]) => [t[a] as string, t[b] as string]),
    };
  }

  #core(text: string): number[] {
    if (typeof text !== 'string') throw invalidArg('text', 'string', text);
    const out: number[] = [];
    bpeWords(text, this.config, (w) => {
      let ids = this.#cache.get(w);
      if (ids === undefined) {
        ids = this.#encodeWord(w);
        if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
        this.#cache.set(w, ids);
      }
      for (let i = 0; i < ids.length; i++) out.push(ids[i] as number);
    });
    return out;
  }

  /** Applies the merges to one piece: lowest rank first, leftmost first among equal ranks. */
  #encodeWord(word: string): Int32Array {
    const v = this.vocab;
    const sym: number[] = [];
    for (const ch of word) sym.push(v.id(ch));
    const n = sym.length;
    if (n < 2 || this.#merges.length === 0) return Int32Array.from(sym);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const heap = this.#heap;
    heap.clear();
    const POS = 4294967296;
    const pushPair = (i: number): void => {
      const j = next[i] as number;
      if (j < 0) return;
      const r = this.#rank.get((sym[i] as number) * PAIR + (sym[j] as number));
      if (r !== undefined) heap.push(r * POS + i);
    };
    for (let i = 0; i + 1 < n; i++) pushPair(i);
    while (heap.size > 0) {
      const k = heap.pop();
      const r = Math.floor(k / POS);
      const i = k - r * POS;
      const j = next[i] as number;
      if (sym[i] === -1 || j < 0) continue; // left symbol gone or now last
      const merge = this.#merges[r] as readonly [number, number];
      if (sym[i] !== merge[0] || sym[j] !== merge[1]) continue; // stale
      sym[i] = this.#result[r] as number;
      sym[j] = -1;
      const after = next[j] as number;
      next[i] = after;
      if (after >= 0) prev[after] = i;
      const before = prev[i] as number;
      if (before >= 0) pushPair(before);
      pushPair(i);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i] as number) out.push(sym[i] as number);
    return Int32Array.from(out);
  }
}
