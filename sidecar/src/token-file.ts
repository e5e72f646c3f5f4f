// A projected service-account token file. The kubelet rewrites it before expiry (atomically,
// through a symlink swap), so it is re-read at most every few seconds, never cached for long.
import { readFileSync } from 'node:fs';

export class TokenFile {
  readonly path: string;
  readonly #maxAgeMs: number;
  #value = '';
  #readAt = 0;

  constructor(path: string, maxAgeMs = 5000) {
    this.path = path;
    this.#maxAgeMs = maxAgeMs;
  }

  /** The current token. Throws when the file cannot be read or is empty. */
  read(): string {
    const now = Date.now();
    if (this.#value !== '' && now - this.#readAt < this.#maxAgeMs) return this.#value;
    const value = readFileSync(this.path, 'utf8').trim();
    if (value === '') throw new Error(`token file ${this.path} is empty`);
    this.#value = value;
    this.#readAt = now;
    return value;
  }
}
