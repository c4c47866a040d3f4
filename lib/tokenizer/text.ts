/**
 * Text normalisation and pre-tokenisation shared by the rnnx tokenizers.
 *
 * Normalisation (in this order, each step optional except the clean-up):
 * 1. lone UTF-16 surrogates become U+FFFD;
 * 2. Unicode NFKC (compatibility forms folded: full-width letters, ligatures, `ℌ` → `h`, …);
 * 3. lower-casing with `String.prototype.toLowerCase`, which uses the Unicode default case
 *    mapping and never the host locale (so `I` → `i` on a Turkish system too);
 * 4. accent stripping: NFD, remove non-spacing marks (`\p{Mn}`), recompose with NFC
 *    (`café` → `cafe`; spacing marks such as Devanagari vowel signs are kept);
 * 5. clean-up: typographic apostrophes (U+2018, U+2019, U+02BC, U+FF07) become `'`; control
 *    and format characters are removed (whitespace controls become a space; ZWJ/ZWNJ are kept,
 *    they matter inside emoji sequences and Persian/Indic words).
 *
 * Pre-tokenisation ("the word rules") splits normalised text into pieces:
 * - runs of whitespace separate pieces and are dropped;
 * - a number is a run of decimal digits, with `.` or `,` allowed between digits (`3.5`, `1,000`);
 * - a word is a run of letters, marks and non-decimal numerals, with apostrophes allowed between
 *   letters (`o'clock`); digits and letters are split apart (`3pm` → `3`, `pm`);
 * - each CJK ideograph is a piece of its own (Chinese and Japanese are written without spaces);
 * - an emoji (with its modifiers, variation selectors and ZWJ sequence) or a flag is one piece;
 * - every other punctuation (`\p{P}`) or symbol (`\p{S}`) code point is a piece of its own, with
 *   any combining marks that follow it;
 * - English clitics are split from the word they end (when `contractions` is on):
 *   `what's` → `what`, `'s`; `we're` → `we`, `'re`; `don't` → `do`, `n't` (Penn Treebank style);
 *   suffixes handled: `'s 're 've 'll 'd 'm n't`.
 */

/** Normalisation options shared by all tokenizers. */
export interface NormalizeOptions {
  /** Apply Unicode NFKC. Default true. */
  nfkc?: boolean;
  /** Lower-case (locale-independent). Default true. */
  lowercase?: boolean;
  /** Remove accents (non-spacing marks after NFD). Default false. */
  stripAccents?: boolean;
}

/** Normalisation options with every field filled in. */
export interface ResolvedNormalizeOptions {
  nfkc: boolean;
  lowercase: boolean;
  stripAccents: boolean;
}

/** Pre-tokenisation options. */
export interface PretokenizeOptions {
  /** Split English clitics (`'s`, `n't`, …) off words. Default true. */
  contractions: boolean;
}

const ASCII_PRINTABLE = /^[\x20-\x7e]*$/;
const LONE_SURROGATE = /\p{Cs}/gu;
const APOSTROPHES = /[\u2018\u2019\u02bc\uff07]/g;
const CONTROL = /[\p{Cc}\p{Cf}]/gu;
const NONSPACING_MARK = /\p{Mn}/gu;
const WHITESPACE_CHAR = /^\s$/u;

function cleanControl(c: string): string {
  if (c === '\u200d' || c === '\u200c') return c;
  return WHITESPACE_CHAR.test(c) ? ' ' : '';
}

/** Fills defaults and checks the types of normalisation options. */
export function resolveNormalize(
  options: NormalizeOptions | undefined,
  check: (name: string, v: unknown) => void,
): ResolvedNormalizeOptions {
  const o = options ?? {};
  const out = {
    nfkc: o.nfkc ?? true,
    lowercase: o.lowercase ?? true,
    stripAccents: o.stripAccents ?? false,
  };
  check('nfkc', out.nfkc);
  check('lowercase', out.lowercase);
  check('stripAccents', out.stripAccents);
  return out;
}

/** Normalises `text` as described at the top of this module. */
export function normalizeText(text: string, o: ResolvedNormalizeOptions): string {
  if (ASCII_PRINTABLE.test(text)) {
    // Fast path: NFKC and NFD are identities on printable ASCII.
    return o.lowercase ? text.toLowerCase() : text;
  }
  let s = text.replace(LONE_SURROGATE, '\ufffd');
  if (o.nfkc) s = s.normalize('NFKC');
  if (o.lowercase) s = s.toLowerCase();
  if (o.stripAccents) s = s.normalize('NFD').replace(NONSPACING_MARK, '').normalize('NFC');
  else if (o.lowercase && o.nfkc) s = s.normalize('NFC');
  s = s.replace(APOSTROPHES, "'").replace(CONTROL, cleanControl);
  return s;
}

// Alternatives, in priority order: whitespace | flag or emoji | number | CJK ideograph | word |
// punctuation or symbol | anything else.
const PIECE =
  /(\s+)|(\p{Regional_Indicator}{2}|\p{Extended_Pictographic}(?:\p{M}|\p{Emoji_Modifier}|\u200d\p{Extended_Pictographic})*)|(\p{Nd}+(?:[.,]\p{Nd}+)*)|(\p{Ideographic}\p{M}*)|([\p{L}\p{M}\p{Nl}\p{No}\u200c\u200d]+(?:'[\p{L}\p{M}\p{Nl}\p{No}\u200c\u200d]+)*)|([\p{P}\p{S}]\p{M}*)|([\s\S])/gu;

const CLITIC = /^(.*[^'])(n't|'s|'re|'ve|'ll|'d|'m)$/;

/** Kinds of pieces produced by {@link pretokenize}. */
export const PieceKind = {
  Emoji: 2,
  Number: 3,
  Ideograph: 4,
  Word: 5,
  Punct: 6,
  Other: 7,
} as const;
/** One of the {@link PieceKind} values. */
export type PieceKind = (typeof PieceKind)[keyof typeof PieceKind];

/** Receives each piece: its text, kind, and whether whitespace came right before it. */
export type PieceSink = (piece: string, kind: PieceKind, spaceBefore: boolean) => void;

/** Splits normalised text into pieces with the word rules (see the module comment). */
export function pretokenize(text: string, o: PretokenizeOptions, sink: PieceSink): void {
  let space = false;
  PIECE.lastIndex = 0;
  for (const m of text.matchAll(PIECE)) {
    if (m[1] !== undefined) {
      space = true;
      continue;
    }
    let kind: PieceKind;
    if (m[2] !== undefined) kind = PieceKind.Emoji;
    else if (m[3] !== undefined) kind = PieceKind.Number;
    else if (m[4] !== undefined) kind = PieceKind.Ideograph;
    else if (m[5] !== undefined) kind = PieceKind.Word;
    else if (m[6] !== undefined) kind = PieceKind.Punct;
    else kind = PieceKind.Other;
    const piece = m[0];
    if (kind === PieceKind.Word && o.contractions && piece.includes("'")) {
      splitClitics(piece, space, sink);
    } else {
      sink(piece, kind, space);
    }
    space = false;
  }
}

function splitClitics(word: string, space: boolean, sink: PieceSink): void {
  const tail: string[] = [];
  let w = word;
  for (;;) {
    const m = CLITIC.exec(w);
    if (m === null || m[1] === undefined || m[2] === undefined) break;
    tail.push(m[2]);
    w = m[1];
  }
  sink(w, PieceKind.Word, space);
  for (let i = tail.length - 1; i >= 0; i--) sink(tail[i] as string, PieceKind.Word, false);
}

/** Splits normalised text into piece strings (convenience wrapper of {@link pretokenize}). */
export function splitWords(text: string, o: PretokenizeOptions): string[] {
  const out: string[] = [];
  pretokenize(text, o, (p) => out.push(p));
  return out;
}

/** Collapses runs of whitespace into one space and trims the ends. */
export function collapseWhitespace(text: string): string {
  return text.split(/\s+/u).filter((s) => s !== '').join(' ');
}
