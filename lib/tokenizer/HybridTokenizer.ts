/**
 * HybridTokenizer: a text's word tokens, a separator, then its BPE subword tokens, in one sequence
 * over one vocabulary. The recurrent model sees whole words (their identity) and their pieces
 * (shared between inflections, and a way to read words the word vocabulary has never seen).
 *
 * Ids: the word vocabulary's ids as they are (`<pad>` 0, `<unk>` 1, …), then `<sep>`, then the BPE
 * vocabulary's regular tokens (shown with a `##` prefix).
 */
import { invalidArg, ModelFormatError, InvalidArgumentError } from '../errors.js';
import { BpeTokenizer, type BpeTokenizerJSON, type BpeTrainOptions } from './BpeTokenizer.js';
import { WordTokenizer, type WordTokenizerJSON, type WordTrainOptions } from './WordTokenizer.js';
import { Vocab } from './Vocab.js';
import { encodeBatchWith, type EncodeBatchOptions, type EncodedBatch } from './common.js';

export const SEP = '<sep>';

export interface HybridTokenizerJSON {
  kind: 'hybrid';
  version: 1;
  word: WordTokenizerJSON;
  subword: BpeTokenizerJSON;
}

export interface HybridTrainOptions {
  word?: WordTrainOptions;
  subword?: BpeTrainOptions;
}

export class HybridTokenizer {
  readonly kind = 'hybrid' as const;
  readonly word: WordTokenizer;
  readonly subword: BpeTokenizer;
  readonly vocab: Vocab;
  readonly #sepId: number;
  readonly #base: number; // id of the first subword token
  readonly #subSpecials: number;

  constructor(word: WordTokenizer, subword: BpeTokenizer) {
    if (word.vocab.bosId >= 0 || word.vocab.eosId >= 0 || subword.vocab.bosId >= 0 || subword.vocab.eosId >= 0)
      throw invalidArg('tokenizers', 'word and subword tokenizers without <bos>/<eos>', 'a tokenizer with them');
    this.word = word;
    this.subword = subword;
    const wt = word.vocab.tokens;
    const st = subword.vocab.tokens;
    this.#subSpecials = subword.vocab.numSpecials;
    this.#sepId = wt.length;
    this.#base = wt.length + 1;
    const tokens = [...wt, SEP, ...st.slice(this.#subSpecials).map((t) => `##${t}`)];
    this.vocab = new Vocab(tokens, word.vocab.numSpecials);
  }

  /** Learns both vocabularies from `texts`. */
  static train(texts: readonly string[], options: HybridTrainOptions = {}): HybridTokenizer {
    return new HybridTokenizer(WordTokenizer.train(texts, options.word ?? {}), BpeTokenizer.train(texts, options.subword ?? {}));
  }

  static fromJSON(json: unknown, file?: string): HybridTokenizer {
    const fail = (m: string): never => {
      if (file !== undefined) throw new ModelFormatError(file, `hybrid tokenizer: ${m}`);
      throw new InvalidArgumentError(`hybrid tokenizer: ${m}`, { param: 'json', expected: 'a hybrid tokenizer JSON', received: m });
    };
    const j = json as Partial<HybridTokenizerJSON> | null;
    if (j === null || typeof j !== 'object' || j.kind !== 'hybrid') return fail('expected { kind: "hybrid", word, subword }');
    if (j.version !== 1) return fail(`unsupported version ${String(j.version)}`);
    return new HybridTokenizer(WordTokenizer.fromJSON(j.word, file), BpeTokenizer.fromJSON(j.subword, file));
  }

  get vocabSize(): number {
    return this.vocab.size;
  }

  tokenize(text: string): string[] {
    return [...this.word.tokenize(text), SEP, ...this.subword.tokenize(text).map((t) => `##${t}`)];
  }

  encode(text: string): Int32Array {
    return Int32Array.from(this.#core(text));
  }

  encodeBatch(texts: readonly string[], options?: EncodeBatchOptions): EncodedBatch {
    return encodeBatchWith(texts, options, (t) => this.#core(t), this.vocab.unkId, -1, -1);
  }

  /** The text of the word part of `ids`. */
  decode(ids: ArrayLike<number>): string {
    const words: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      if (id === this.#sepId) break;
      words.push(id);
    }
    return this.word.decode(words);
  }

  toJSON(): HybridTokenizerJSON {
    return { kind: 'hybrid', version: 1, word: this.word.toJSON(), subword: this.subword.toJSON() };
  }

  #core(text: string): number[] {
    const w = this.word.encode(text);
    const s = this.subword.encode(text);
    if (w.length === 0 && s.length === 0) return [];
    const out: number[] = Array.from(w);
    out.push(this.#sepId);
    const unk = this.vocab.unkId;
    for (const id of s) out.push(id < this.#subSpecials ? (id === this.subword.vocab.padId ? 0 : unk) : this.#base + id - this.#subSpecials);
    return out;
  }
}
