/** A binary min-heap ordered by `less` (the smallest element is popped first). */
export class Heap<T> {
  readonly #items: T[] = [];
  readonly #less: (a: T, b: T) => boolean;

  constructor(less: (a: T, b: T) => boolean) {
    this.#less = less;
  }

  get size(): number {
    return this.#items.length;
  }

  push(item: T): void {
    const a = this.#items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(a[i] as T, a[p] as T)) break;
      const t = a[i] as T;
      a[i] = a[p] as T;
      a[p] = t;
      i = p;
    }
  }

  pop(): T | undefined {
    const a = this.#items;
    if (a.length === 0) return undefined;
    const top = a[0] as T;
    const last = a.pop() as T;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      const n = a.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && this.#less(a[r] as T, a[l] as T) ? r : l;
        if (!this.#less(a[c] as T, a[i] as T)) break;
        const t = a[i] as T;
        a[i] = a[c] as T;
        a[c] = t;
        i = c;
      }
    }
    return top;
  }
}

/**
 * A min-heap of non-negative numbers (used by BPE encoding with keys `rank * 2^32 + position`,
 * so no allocation per entry).
 */
export class NumberHeap {
  #a: number[] = [];

  get size(): number {
    return this.#a.length;
  }

  clear(): void {
    this.#a.length = 0;
  }

  push(x: number): void {
    const a = this.#a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pv = a[p] as number;
      if (pv <= x) break;
      a[i] = pv;
      i = p;
    }
    a[i] = x;
  }

  pop(): number {
    const a = this.#a;
    const top = a[0] as number;
    const last = a.pop() as number;
    const n = a.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && (a[r] as number) < (a[l] as number) ? r : l;
        if ((a[c] as number) >= last) break;
        a[i] = a[c] as number;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}
