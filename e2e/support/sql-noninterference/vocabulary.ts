// The names and disguises both generators draw from. They are biased toward collisions: relation and
// column aliases reuse the names of real tables, personal columns and PostgreSQL's default output
// names (`unnest`, `column1`, `?column?`), because a guard that resolves a name to the wrong source
// is exactly what the tester looks for.

/** customers' personal columns (spec.sensitiveColumns of examples/lgpd-orders). */
export const PERSONAL = ['cpf', 'cnpj', 'email', 'telefone', 'notes'];
export const CUSTOMERS = ['id', 'nome', 'cpf', 'cnpj', 'email', 'telefone', 'dt_nasc', 'notes'];
export const ORDERS = ['id', 'customer_id', 'status', 'total_cents', 'created_at'];

/** Relation / alias names, biased toward names of real tables, columns and PostgreSQL's default names. */
export const REL_NAMES = ['customers', 'orders', 'c', 'o', 't', 's', 'q', 'cpf', 'email', 'x', 'j', 'subquery', 'unnest',
  'generate_series', '"customers"', 'Customers', 'u'];

/** Output / column alias names, biased toward personal column names (quoted, upper-case folding). */
export const COL_NAMES = ['cpf', 'email', 'notes', 'cnpj', 'telefone', 'id', 'nome', 'status', 'q', 'x', 'a', 'b',
  '"cpf"', 'CPF', 'column1', 'f1', 'unnest', 'customers'];

/**
 * Expressions that hide a value from the masking engine's detectors: an allowed statement returning
 * one of these over a personal column would hand the value (or a function of it) out unmasked.
 */
export const DISGUISES: readonly ((e: string) => string)[] = [
  (e) => `translate(${e}, '0123456789', 'abcdefghij')`,
  (e) => `translate(${e}::text, '0123456789@.', 'abcdefghij#,')`,
  (e) => `ascii(${e})`,
  (e) => `substr(${e}, 1, 3)`,
  (e) => `md5(${e}::text)`,
  (e) => `(${e})::bytea::text`,
  (e) => `length(${e}::text)`,
  (e) => `reverse(${e})`,
  (e) => `upper(${e})`,
  (e) => `(${e} LIKE '5%')`,
  (e) => `coalesce(${e}, 'n')`,
  // attribute notation: a function called as a field of its argument (review 38)
  (e) => `((${e})::text).length`,
  (e) => `((${e})::text).md5`,
];

/**
 * Generated statements write `@S.` for the schema of the two tables: the guard reads it as `public.`
 * (the policy names public.customers), each run as the schema it runs on.
 */
export const SCHEMA_PLACEHOLDER = '@S';
