// Prepared statements and portals filed under the key the server files them under. PostgreSQL keeps
// both in hash tables whose keys are NAMEDATALEN (64) bytes: a protocol name is its first 63 bytes
// (strlcpy), and the SQL scanner truncates identifiers (FETCH, CLOSE, DECLARE, DEALLOCATE) to 63
// bytes too. Two protocol names that share their first 63 bytes are one object to the server, so
// they must be one to the listener, and an SQL statement's name must find the protocol object it
// reaches: keyed by the whole name, an alias of 64 bytes or more replaced a statement's text
// unseen, and SQL FETCH of the 63-byte prefix ran a portal the FETCH refusal did not find.

/** NAMEDATALEN - 1 of a stock PostgreSQL build (what `max_identifier_length` reports). */
export const SERVER_NAME_BYTES = 63;

/** Names whose key is the name itself: printable ASCII within the limit (one byte per character). */
const SHORT_ASCII = /^[ -~]{0,63}$/;

/** The key the server files `name` under: its first 63 UTF-8 bytes, as a string one-to-one with them (latin1). */
export function serverKey(name: string): string {
  if (SHORT_ASCII.test(name)) return name;
  return Buffer.from(name, 'utf8').subarray(0, SERVER_NAME_BYTES).toString('latin1');
}

/** A map from statement or portal names to what the listener filed, by the server's key. */
export class ServerNames<T extends { name: string }> {
  readonly #byKey = new Map<string, T>();

  get size(): number {
    return this.#byKey.size;
  }

  get(name: string): T | undefined {
    return this.#byKey.get(serverKey(name));
  }

  has(name: string): boolean {
    return this.#byKey.has(serverKey(name));
  }

  set(name: string, value: T): void {
    this.#byKey.set(serverKey(name), value);
  }

  delete(name: string): void {
    this.#byKey.delete(serverKey(name));
  }

  values(): IterableIterator<T> {
    return this.#byKey.values();
  }
}
