import { describe as suite, expect, it } from 'vitest';
import { InvalidArgumentError, ModelFormatError } from '../../lib/errors.js';
import {
  BpeTokenizer,
  CharTokenizer,
  NUM,
  Vocab,
  WordTokenizer,
  normalizeText,
  splitWords,
  tokenizerFromJSON,
} from '../../lib/tokenizer/index.js';

const words = (text: string, contractions = true): string[] =>
  splitWords(normalizeText(text, { nfkc: true, lowercase: true, stripAccents: false }), { contractions });

suite('Vocab', () => {
  it('reserves pad 0 and unk 1, then bos/eos and extra specials', () => {
    const v = Vocab.fromTokens(['a', 'b', 'a'], { bos: true, eos: true, extraSpecials: ['<num>'] });
    expect(v.tokens).toEqual(['<pad>', '<unk>', '<bos>', '<eos>', '<num>', 'a', 'b']);
    expect([v.padId, v.unkId, v.bosId, v.eosId, v.numSpecials, v.size]).toEqual([0, 1, 2, 3, 5, 7]);
    expect(v.id('a')).toBe(5);
    expect(v.id('zzz')).toBe(1);
    expect(v.get('zzz')).toBeUndefined();
    expect(v.token(6)).toBe('b');
    expect(() => v.token(7)).toThrow(InvalidArgumentError);
    expect(() => v.token(-1)).toThrow(InvalidArgumentError);
    const plain = Vocab.fromTokens([]);
    expect([plain.bosId, plain.eosId, plain.size]).toEqual([-1, -1, 2]);
  });

  it('builds from counts with minCount, maxSize and deterministic ties', () => {
    const counts: [string, number][] = [
      ['c', 2],
      ['b', 5],
      ['a', 2],
      ['d', 1],
      ['e', 2],
    ];
    const v1 = Vocab.fromCounts(counts, { minCount: 2 });
    expect(v1.tokens.slice(2)).toEqual(['b', 'a', 'c', 'e']);
    const v2 = Vocab.fromCounts(new Map([...counts].reverse()), { minCount: 2 });
    expect(v2.tokens).toEqual(v1.tokens);
    const v3 = Vocab.fromCounts(counts, { maxSize: 4 });
    expect(v3.tokens).toEqual(['<pad>', '<unk>', 'b', 'a']);
    expect(() => Vocab.fromCounts(counts, { maxSize: 1 })).toThrow(InvalidArgumentError);
    expect(() => Vocab.fromCounts(counts, { minCount: 0 })).toThrow(InvalidArgumentError);
  });

  it('round-trips through JSON', () => {
    const v = Vocab.fromTokens(['x', 'y'], { eos: true });
    const back = Vocab.fromJSON(JSON.parse(JSON.stringify(v)));
    expect(back.tokens).toEqual(v.tokens);
    expect(back.eosId).toBe(2);
  });

  it('rejects malformed JSON with typed errors', () => {
    const bad: unknown[] = [
      null,
      [],
      { tokens: 'abc', specials: 2 },
      { tokens: ['<pad>', '<unk>', 'a', 'a'], specials: 2 },
      { tokens: ['<unk>', '<pad>', 'a'], specials: 2 },
      { tokens: ['<pad>', '<unk>', 3], specials: 2 },
      { tokens: ['<pad>', '<unk>', ''], specials: 2 },
      { tokens: ['<pad>', '<unk>'], specials: 5 },
      { tokens: ['<pad>', '<unk>'], specials: 1 },
      { tokens: ['<pad>', '<unk>'] },
      { tokens: ['<pad>', '<unk>', 'x', '<bos>'], specials: 2 },
      { tokens: ['<pad>', '<unk>', 'x'.repeat(5000)], specials: 2 },
    ];
    for (const json of bad) {
      expect(() => Vocab.fromJSON(json)).toThrow(InvalidArgumentError);
      let err: unknown;
      try {
        Vocab.fromJSON(json, 'model.safetensors');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ModelFormatError);
      expect((err as ModelFormatError).file).toBe('model.safetensors');
      expect((err as Error).message).toContain('model.safetensors');
    }
    // Absurd sizes are refused before any work per token.
    const huge = { tokens: new Array(4_000_001), specials: 2 };
    expect(() => Vocab.fromJSON(huge, 'm')).toThrow(ModelFormatError);
  });
});

suite('normalisation and word rules', () => {
  it('splits punctuation off words', () => {
    expect(words('what time is it?')).toEqual(['what', 'time', 'is', 'it', '?']);
    expect(words('Hello, World!!')).toEqual(['hello', ',', 'world', '!', '!']);
    expect(words('set an alarm (7am) -- now')).toEqual(['set', 'an', 'alarm', '(', '7', 'am', ')', '-', '-', 'now']);
    expect(words('cost: $3.50, or 1,000 euros')).toEqual(['cost', ':', '$', '3.50', ',', 'or', '1,000', 'euros']);
  });

  it('handles contractions', () => {
    expect(words("what's up")).toEqual(['what', "'s", 'up']);
    expect(words("I don't know, we're late")).toEqual(['i', 'do', "n't", 'know', ',', 'we', "'re", 'late']);
    expect(words("it’s five o'clock")).toEqual(['it', "'s", 'five', "o'clock"]);
    expect(words("i'd've")).toEqual(['i', "'d", "'ve"]);
    expect(words("say 'hello' now")).toEqual(['say', "'", 'hello', "'", 'now']);
    expect(words("what's", false)).toEqual(["what's"]);
  });

  it('normalises Unicode: NFKC, case, accents, whitespace, controls', () => {
    const o = { nfkc: true, lowercase: true, stripAccents: false };
    expect(normalizeText('ＨＥＬＬＯ ﬁne', o)).toBe('hello fine');
    // composed and decomposed forms give the same text
    expect(normalizeText('Cafe\u0301', o)).toBe(normalizeText('Café', o));
    expect(normalizeText('Café Naïve', { ...o, stripAccents: true })).toBe('cafe naive');
    // lower-casing does not depend on the locale (Turkish dotted I stays standard)
    expect(normalizeText('TITLE', o)).toBe('title');
    expect(normalizeText('a\u0000b\u200bc', o)).toBe('abc');
    expect(words('a\u00a0b\u3000c\tdé')).toEqual(['a', 'b', 'c', 'dé']);
    expect(normalizeText('AbC', { ...o, lowercase: false })).toBe('AbC');
  });

  it('splits CJK ideographs, keeps emoji and flags whole, handles RTL and combining marks', () => {
    expect(words('我爱东京')).toEqual(['我', '爱', '东', '京']);
    expect(words('I ❤️ 👨‍👩‍👧 pizza 👍🏽🇯🇵')).toEqual(['i', '❤️', '👨‍👩‍👧', 'pizza', '👍🏽', '🇯🇵']);
    expect(words('שָׁלוֹם עולם!')).toEqual(['שָׁלוֹם', 'עולם', '!']);
    expect(words('مرحبا، كيف حالك؟')).toEqual(['مرحبا', '،', 'كيف', 'حالك', '؟']);
    expect(words('नमस्ते दुनिया')).toEqual(['नमस्ते', 'दुनिया']);
    expect(words('\u0301abc')).toEqual(['\u0301abc']);
  });
});

const corpus = [
  'what time is it?',
  'what is the time in Paris',
  "what's the weather like today",
  'set an alarm for 7 am',
  'set a timer for 10 minutes',
  'how do i say hello in french',
  'tell me a joke',
  'what is my account balance',
  'transfer 100 dollars to my savings account',
  'the time now, please',
];

suite('WordTokenizer', () => {
  const tok = WordTokenizer.train(corpus);

  it('encodes known words and maps unknown ones to <unk>', () => {
    const ids = tok.encode('What time is it?');
    expect(ids).toBeInstanceOf(Int32Array);
    expect(Array.from(ids).map((i) => tok.vocab.token(i))).toEqual(['what', 'time', 'is', 'it', '?']);
    expect(Array.from(tok.encode('what zebra'))).toEqual([tok.vocab.id('what'), 1]);
    expect(tok.decode(tok.encode('what time is it?'))).toBe('what time is it?');
    expect(tok.decode(tok.encode("What's the time, please?"))).toBe("what's the time, please?");
    expect(tok.encode('').length).toBe(0);
  });

  it('orders the vocabulary by frequency with minCount / maxSize', () => {
    // what ×4; is, the, time ×3 each (ties in string order)
    expect(tok.vocab.tokens.slice(2, 6)).toEqual(['what', 'is', 'the', 'time']);
    const small = WordTokenizer.train(corpus, { minCount: 2, maxSize: 6 });
    expect(small.vocabSize).toBe(6);
    expect(small.vocab.tokens).toEqual(['<pad>', '<unk>', 'what', 'is', 'the', 'time']);
  });

  it('maps numbers to <num> when asked', () => {
    const t = WordTokenizer.train(corpus, { numbers: 'token' });
    expect(t.vocab.isSpecial(t.vocab.id(NUM))).toBe(true);
    expect(t.tokenize('wake me at 6.30')).toEqual(['wake', 'me', 'at', NUM]);
    expect(t.encode('set a timer for 25 minutes')).toEqual(t.encode('set a timer for 3 minutes'));
  });

  it('adds BOS / EOS', () => {
    const t = WordTokenizer.train(corpus, { bos: true, eos: true });
    const ids = Array.from(t.encode('tell me'));
    expect(ids[0]).toBe(t.vocab.bosId);
    expect(ids[ids.length - 1]).toBe(t.vocab.eosId);
    expect(t.decode(ids)).toBe('tell me');
  });

  it('is deterministic and survives JSON save / load', () => {
    const again = WordTokenizer.train([...corpus]);
    expect(JSON.stringify(again.toJSON())).toBe(JSON.stringify(tok.toJSON()));
    const loaded = tokenizerFromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
    expect(loaded).toBeInstanceOf(WordTokenizer);
    for (const s of [...corpus, 'unknown words here!']) expect(loaded.encode(s)).toEqual(tok.encode(s));
    const fromString = tokenizerFromJSON(JSON.stringify(tok));
    expect(fromString.encode('tell me a joke')).toEqual(tok.encode('tell me a joke'));
  });

  it('rejects bad arguments', () => {
    expect(() => WordTokenizer.train('abc' as unknown as string[])).toThrow(InvalidArgumentError);
    expect(() => WordTokenizer.train([1] as unknown as string[])).toThrow(InvalidArgumentError);
    expect(() => WordTokenizer.train(corpus, { numbers: 'drop' as 'keep' })).toThrow(InvalidArgumentError);
    expect(() => tok.encode(3 as unknown as string)).toThrow(InvalidArgumentError);
    expect(() => tok.decode([99999])).toThrow(InvalidArgumentError);
  });
});

suite('CharTokenizer', () => {
  it('uses code points, not UTF-16 units', () => {
    const t = CharTokenizer.train(['héllo 👍 世界', 'abc']);
    expect(t.tokenize('👍a')).toEqual(['👍', 'a']);
    expect(t.encode('👍').length).toBe(1);
    expect(t.decode(t.encode('  Héllo   👍 世界 '))).toBe('héllo 👍 世界');
    expect(t.decode(t.encode('héllo x'))).toBe('héllo \ufffd');
    expect(t.tokenize('e\u0301')).toEqual(['é']); // NFKC composes
  });

  it('keeps case and whitespace when told to', () => {
    const t = CharTokenizer.train(['Ab  c'], { lowercase: false, collapseWhitespace: false });
    expect(t.decode(t.encode('Ab  c'))).toBe('Ab  c');
  });

  it('is deterministic and survives JSON save / load', () => {
    const a = CharTokenizer.train(corpus, { minCount: 2, eos: true });
    const b = CharTokenizer.train(corpus.slice(), { minCount: 2, eos: true });
    expect(b.toJSON()).toEqual(a.toJSON());
    const loaded = tokenizerFromJSON(JSON.parse(JSON.stringify(a)), 'm.safetensors');
    expect(loaded.kind).toBe('char');
    for (const s of corpus) expect(loaded.encode(s)).toEqual(a.encode(s));
  });
});

suite('encodeBatch', () => {
  const tok = WordTokenizer.train(corpus);

  it('pads to the longest with pad id 0 and reports lengths', () => {
    const b = tok.encodeBatch(['what time is it?', 'tell me', '']);
    expect(b.shape).toEqual([3, 5]);
    expect(Array.from(b.lengths)).toEqual([5, 2, 1]);
    const row = (i: number) => Array.from(b.ids.subarray(i * 5, i * 5 + 5));
    expect(row(0)).toEqual(Array.from(tok.encode('what time is it?')));
    expect(row(1)).toEqual([...tok.encode('tell me'), 0, 0, 0]);
    expect(row(2)).toEqual([1, 0, 0, 0, 0]); // empty text → one <unk>
  });

  it('pads to a fixed width and truncates at either end', () => {
    const b = tok.encodeBatch(['what time is it?', 'tell me'], { padTo: 3 });
    expect(b.shape).toEqual([2, 3]);
    expect(Array.from(b.lengths)).toEqual([3, 2]);
    const all = Array.from(tok.encode('what time is it?'));
    expect(Array.from(b.ids.subarray(0, 3))).toEqual(all.slice(0, 3));
    const s = tok.encodeBatch(['what time is it?'], { maxLength: 2, truncate: 'start' });
    expect(s.shape).toEqual([1, 2]);
    expect(Array.from(s.ids)).toEqual(all.slice(-2));
    const wide = tok.encodeBatch(['tell me'], { padTo: 6, maxLength: 1 });
    expect(wide.shape).toEqual([1, 6]);
    expect(Array.from(wide.lengths)).toEqual([1]);
  });

  it('keeps BOS / EOS when truncating', () => {
    const t = WordTokenizer.train(corpus, { bos: true, eos: true });
    const { bosId, eosId } = t.vocab;
    const e = t.encodeBatch(['what time is it?'], { maxLength: 4 });
    const core = Array.from(t.encode('what time is it?')).slice(1, -1);
    expect(Array.from(e.ids)).toEqual([bosId, ...core.slice(0, 2), eosId]);
    const s = t.encodeBatch(['what time is it?', ''], { maxLength: 4, truncate: 'start' });
    expect(Array.from(s.ids.subarray(0, 4))).toEqual([bosId, ...core.slice(-2), eosId]);
    expect(Array.from(s.ids.subarray(4, 8))).toEqual([bosId, 1, eosId, 0]);
  });

  it('handles an empty batch and rejects bad options', () => {
    expect(tok.encodeBatch([]).shape).toEqual([0, 0]);
    expect(tok.encodeBatch([], { padTo: 4 }).shape).toEqual([0, 4]);
    expect(() => tok.encodeBatch(['a'], { maxLength: 0 })).toThrow(InvalidArgumentError);
    expect(() => tok.encodeBatch(['a'], { padTo: 1.5 })).toThrow(InvalidArgumentError);
    expect(() => tok.encodeBatch(['a'], { truncate: 'middle' as 'end' })).toThrow(InvalidArgumentError);
    expect(() => tok.encodeBatch(['a', 2] as unknown as string[])).toThrow(InvalidArgumentError);
  });

  it('encodes 1000 sentences quickly', () => {
    const texts = Array.from({ length: 1000 }, (_, i) => `${corpus[i % corpus.length]} number ${i} ¿qué? 東京`);
    const bpe = BpeTokenizer.train(corpus, { vocabSize: 200 });
    for (const t of [tok, bpe, CharTokenizer.train(corpus)]) {
      t.encodeBatch(texts); // warm-up
      const t0 = performance.now();
      const b = t.encodeBatch(texts);
      const ms = performance.now() - t0;
      expect(b.shape[0]).toBe(1000);
      expect(ms).toBeLessThan(500);
    }
  });
});

suite('tokenizerFromJSON on malformed input', () => {
  const word = WordTokenizer.train(corpus).toJSON();
  const bpe = BpeTokenizer.train(corpus, { vocabSize: 120 }).toJSON();
  const cases: [string, unknown][] = [
    ['not an object', 42],
    ['bad JSON text', '{"kind":'],
    ['unknown kind', { ...word, kind: 'sentencepiece' }],
    ['future version', { ...word, version: 2 }],
    ['config not an object', { ...word, config: null }],
    ['non-boolean option', { ...word, config: { ...word.config, lowercase: 'yes' } }],
    ['bad numbers option', { ...word, config: { ...word.config, numbers: 'drop' } }],
    ['numbers token without <num>', { ...word, config: { ...word.config, numbers: 'token' } }],
    ['missing vocab', { ...word, vocab: undefined }],
    ['duplicate tokens', { ...word, vocab: { tokens: ['<pad>', '<unk>', 'a', 'a'], specials: 2 } }],
    ['char token of two characters', { kind: 'char', version: 1, config: word.config, vocab: { tokens: ['<pad>', '<unk>', 'ab'], specials: 2 } }],
    ['merges not an array', { ...bpe, merges: 'x' }],
    ['merge not a pair', { ...bpe, merges: [['a']] }],
    ['merge of unknown tokens', { ...bpe, merges: [['§', '¶']] }],
    ['merge result missing', { ...bpe, vocab: { tokens: bpe.vocab.tokens.filter((t) => t !== bpe.merges[0]!.join('')), specials: 2 } }],
    ['duplicate merge', { ...bpe, merges: [bpe.merges[0], bpe.merges[0]] }],
    ['merge using a special', { ...bpe, merges: [['<pad>', '<unk>']] }],
  ];
  for (const [name, json] of cases) {
    it(`${name} → ModelFormatError with the file name, InvalidArgumentError without`, () => {
      let err: unknown;
      try {
        tokenizerFromJSON(json, 'intent.safetensors');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ModelFormatError);
      expect((err as Error).message).toContain('intent.safetensors');
      expect(() => tokenizerFromJSON(json)).toThrow(InvalidArgumentError);
    });
  }
});
