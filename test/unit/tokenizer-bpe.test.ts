import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe as suite, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import { BpeTokenizer, WORD_START, WordTokenizer, tokenizerFromJSON } from '../../lib/tokenizer/index.js';

const CLINC = fileURLToPath(new URL('../../../shared/data/clinc150/data_full.json', import.meta.url));

const normalised = (s: string): string => s.toLowerCase().replace(/’/g, "'").trim().split(/\s+/u).join(' ');

suite('BpeTokenizer (small corpus)', () => {
  const corpus = [
    'low lower lowest',
    'newer newest wider',
    'the lowest newest widest',
    'low low low lower newer',
  ];

  it('learns the most frequent pairs first, with deterministic ties', () => {
    const t = BpeTokenizer.train(corpus, { vocabSize: 40, minFrequency: 2 });
    const merges = t.toJSON().merges;
    // ▁-l, l-o and o-w all occur 8 times (low ×4, lower ×2, lowest ×2): the pair whose strings
    // sort first wins ('l' < 'o' < '▁'), then the new symbol 'lo' joins the next pairs.
    expect(merges.slice(0, 3)).toEqual([
      ['l', 'o'],
      ['lo', 'w'],
      [WORD_START, 'low'],
    ]);
    const again = BpeTokenizer.train(corpus.slice(), { vocabSize: 40, minFrequency: 2 });
    expect(again.toJSON()).toEqual(t.toJSON());
    expect(t.tokenize('low')).toEqual([`${WORD_START}low`]);
    expect(t.tokenize('lowest')).toEqual([`${WORD_START}lowest`]);
  });

  it('stops at vocabSize and at minFrequency', () => {
    const alphabet = BpeTokenizer.train(corpus, { vocabSize: 4 });
    expect(alphabet.vocabSize).toBe(4);
    expect(alphabet.numMerges).toBe(0);
    const t = BpeTokenizer.train(corpus, { vocabSize: 10_000, minFrequency: 1000 });
    expect(t.numMerges).toBe(0);
    const all = BpeTokenizer.train(corpus, { vocabSize: 10_000, minFrequency: 1 });
    // with minFrequency 1 every piece ends up as one token
    for (const w of ['lowest', 'newer', 'wider']) expect(all.tokenize(w)).toEqual([WORD_START + w]);
  });

  it('round-trips normalised text, including Unicode', () => {
    const texts = ["What's the time? It's 3pm.", 'café naïve — ok', '東京へ行きます 👍🏽 🇫🇷', 'שָׁלוֹם עולם!', 'a  b\t c'];
    const t = BpeTokenizer.train(texts, { vocabSize: 120, minFrequency: 1 });
    for (const s of texts) {
      const norm = s.normalize('NFKC').toLowerCase().trim().split(/\s+/u).join(' ');
      expect(t.decode(t.encode(s))).toBe(norm);
    }
    // characters never seen become <unk> and decode as U+FFFD
    expect(t.decode(t.encode('xyz'))).toBe('\ufffd\ufffd\ufffd');
    expect(t.encode('')).toEqual(new Int32Array(0));
  });

  it('never merges across words or punctuation', () => {
    const t = BpeTokenizer.train(['ab,ab,ab,ab ab ab'], { vocabSize: 100, minFrequency: 1 });
    for (const tok of t.vocab.tokens.slice(t.vocab.numSpecials)) {
      expect(tok.slice(1).includes(WORD_START)).toBe(false);
      if (tok.length > 1) expect(tok.includes(',')).toBe(false);
    }
  });

  it('rejects bad training options', () => {
    expect(() => BpeTokenizer.train(corpus, { vocabSize: 2 })).toThrow(InvalidArgumentError);
    expect(() => BpeTokenizer.train(corpus, { vocabSize: 2 ** 30 })).toThrow(InvalidArgumentError);
    expect(() => BpeTokenizer.train(corpus, { minFrequency: 0 })).toThrow(InvalidArgumentError);
    expect(() => BpeTokenizer.train(corpus, { lowercase: 1 as unknown as boolean })).toThrow(InvalidArgumentError);
  });

  it('encodes long pieces without quadratic blow-up', () => {
    const t = BpeTokenizer.train(['abababab cdcdcd'], { vocabSize: 30, minFrequency: 1 });
    const long = 'ab'.repeat(50_000);
    const t0 = performance.now();
    const ids = t.encode(long);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(t.decode(ids)).toBe(long);
    expect(ids.length).toBeLessThan(long.length / 4);
  });
});

suite.skipIf(!existsSync(CLINC))('BpeTokenizer on CLINC150', () => {
  const data = JSON.parse(readFileSync(CLINC, 'utf8')) as Record<string, [string, string][]>;
  const train = (data.train ?? []).map((e) => e[0]);
  const test = (data.test ?? []).map((e) => e[0]);

  it('trains on the 15k training sentences within a time bound and compresses', () => {
    expect(train.length).toBe(15_000);
    const t0 = performance.now();
    const bpe = BpeTokenizer.train(train, { vocabSize: 4000 });
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(5000);
    expect(bpe.vocabSize).toBe(4000);

    let tokens = 0;
    let chars = 0;
    let unk = 0;
    for (const s of test) {
      const ids = bpe.encode(s);
      tokens += ids.length;
      chars += [...s].length;
      for (const id of ids) if (id === bpe.vocab.unkId) unk++;
      expect(bpe.decode(ids)).toBe(normalised(s));
    }
    expect(tokens).toBeLessThan(chars / 3);
    expect(unk / tokens).toBeLessThan(0.001);
    console.log(
      `BPE on CLINC150: train ${ms.toFixed(0)} ms, ${bpe.numMerges} merges; test: ${(tokens / test.length).toFixed(2)} tokens/sentence vs ${(chars / test.length).toFixed(1)} chars`,
    );

    const again = BpeTokenizer.train(train, { vocabSize: 4000 });
    expect(JSON.stringify(again.toJSON())).toBe(JSON.stringify(bpe.toJSON()));

    const loaded = tokenizerFromJSON(JSON.parse(JSON.stringify(bpe.toJSON())), 'intent.safetensors');
    const a = bpe.encodeBatch(test.slice(0, 500));
    const b = loaded.encodeBatch(test.slice(0, 500));
    expect(b.ids).toEqual(a.ids);
    expect(b.lengths).toEqual(a.lengths);

    const t1 = performance.now();
    const fresh = tokenizerFromJSON(bpe.toJSON());
    const batch = fresh.encodeBatch(test.slice(0, 1000), { maxLength: 32 });
    const encMs = performance.now() - t1;
    expect(batch.shape[0]).toBe(1000);
    expect(encMs).toBeLessThan(1000);
  });

  it('word tokenizer covers the test split well', () => {
    const w = WordTokenizer.train(train, { minCount: 1 });
    let n = 0;
    let unk = 0;
    for (const s of test) {
      for (const id of w.encode(s)) {
        n++;
        if (id === w.vocab.unkId) unk++;
      }
    }
    expect(unk / n).toBeLessThan(0.05);
  });
});
