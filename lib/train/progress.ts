/**
 * The training progress bar: one line on stderr, redrawn at most ten times a second when stderr is
 * a terminal (one line per epoch otherwise), with loss, accuracy and ETA.
 */
import type { EpochLog, ProgressInfo } from './fit.js';

function fmtTime(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  const m = Math.floor(s / 60);
  const r = Math.floor(s % 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}`;
}

export class ProgressBar {
  readonly #mode: 'off' | 'tty' | 'lines' | 'fn';
  readonly #fn: ((p: ProgressInfo) => void) | undefined;
  #last = 0;
  #drawn = false;

  constructor(option: boolean | ((p: ProgressInfo) => void) | undefined) {
    if (typeof option === 'function') {
      this.#mode = 'fn';
      this.#fn = option;
    } else if (option === true) {
      this.#mode = process.stderr.isTTY ? 'tty' : 'lines';
    } else {
      this.#mode = 'off';
    }
  }

  update(p: ProgressInfo): void {
    if (this.#mode === 'fn') {
      this.#fn?.(p);
      return;
    }
    if (this.#mode !== 'tty') return;
    const now = performance.now();
    if (now - this.#last < 100 && p.step !== p.steps) return;
    this.#last = now;
    const width = 24;
    const filled = Math.round((p.step / p.steps) * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const acc = p.accuracy === null ? '' : ` acc ${(p.accuracy * 100).toFixed(1)}%`;
    const line = `epoch ${p.epoch}/${p.epochs} ${bar} ${p.step}/${p.steps} loss ${p.loss.toFixed(4)}${acc} ETA ${fmtTime(p.etaSeconds)}`;
    process.stderr.write(`\r${line}\x1b[K`);
    this.#drawn = true;
  }

  epochEnd(log: EpochLog): void {
    if (this.#mode === 'off' || this.#mode === 'fn') return;
    const acc = log.accuracy === null ? '' : ` acc ${(log.accuracy * 100).toFixed(2)}%`;
    const val =
      log.valLoss === null ? '' : ` | val loss ${log.valLoss.toFixed(4)}${log.valAccuracy === null ? '' : ` acc ${(log.valAccuracy * 100).toFixed(2)}%`}`;
    const line = `epoch ${log.epoch}: loss ${log.loss.toFixed(4)}${acc}${val} | lr ${log.lr.toExponential(2)} | ${log.seconds.toFixed(1)} s`;
    process.stderr.write(this.#mode === 'tty' ? `\r${line}\x1b[K\n` : `${line}\n`);
    this.#drawn = false;
  }

  done(): void {
    if (this.#mode === 'tty' && this.#drawn) process.stderr.write('\n');
    this.#drawn = false;
  }
}
