/** Tokenizers of rnnx: word, character and BPE, with their vocabulary. */
export { Vocab, PAD, UNK, BOS, EOS, MAX_VOCAB_SIZE, MAX_TOKEN_LENGTH } from './Vocab.js';
export type { VocabJSON, VocabBuildOptions, VocabCountOptions } from './Vocab.js';
export { tokenizerFromJSON, isTokenizer } from './Tokenizer.js';
export type { Tokenizer, TokenizerJSON, EncodeBatchOptions, EncodedBatch } from './Tokenizer.js';
export { WordTokenizer, NUM } from './WordTokenizer.js';
export type { WordTokenizerOptions, WordTrainOptions, WordTokenizerConfig, WordTokenizerJSON } from './WordTokenizer.js';
export { CharTokenizer } from './CharTokenizer.js';
export type { CharTokenizerOptions, CharTrainOptions, CharTokenizerConfig, CharTokenizerJSON } from './CharTokenizer.js';
export { BpeTokenizer, WORD_START, MAX_BPE_VOCAB } from './BpeTokenizer.js';
export type { BpeTokenizerOptions, BpeTrainOptions, BpeTokenizerConfig, BpeTokenizerJSON } from './BpeTokenizer.js';
export { normalizeText, splitWords, collapseWhitespace } from './text.js';
export type { NormalizeOptions } from './text.js';
export { HybridTokenizer, SEP } from './HybridTokenizer.js';
export type { HybridTokenizerJSON, HybridTrainOptions } from './HybridTokenizer.js';
