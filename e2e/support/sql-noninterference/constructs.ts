// Uses (sinks) and carriers of the layered generator for the constructs PostgreSQL resolves names or
// values through beyond plain SELECT lists (review 38): GROUP BY / GROUPING SETS / ROLLUP / CUBE by name
// and position, HAVING, named windows, ORDER BY inside aggregates, FILTER, DISTINCT ON, FETCH FIRST WITH
// TIES, LIMIT / OFFSET with expressions, row comparisons, IS DISTINCT FROM, CASE / COALESCE / NULLIF /
// GREATEST, array and JSON constructors and paths, string_agg, composite field selection, unnest WITH
// ORDINALITY, json_to_recordset, INTERSECT / EXCEPT ALL, LATERAL, FULL / RIGHT JOIN USING, error
// oracles (casts, division, regular expressions), and the writes: UPDATE ... FROM, DELETE ... USING,
// MERGE with conditions, ON CONFLICT DO UPDATE through EXCLUDED, data-modifying CTEs.
//
// Each function returns every alternative already built (the caller picks one), so that a seed draws
// the same numbers whatever is picked.

/** What a sink works on: the alias `a`, the column as written `c`, its bare name, and the FROM text. */
export interface SinkInput {
  a: string;
  c: string;
  bare: string;
  /** `FROM (q) AS a`. */
  from: string;
  /** `FROM (SELECT row_number() OVER () AS rn_, a.* FROM (q) AS a) AS a`: rn_ names a row without personal data. */
  fromRn: string;
  /** A disguised form of c (vocabulary DISGUISES). */
  d: string;
  /** A name for an output. */
  nm: string;
}

/** Candidate values in both data sets' shapes: equality with them differs between the schemas. */
const CANDIDATES = `ARRAY['390.996.030-88', '987.654.321-00', 'z@mail.org', '12345678909', '+55 91 95919-9604']`;

/** Grouping and ordering uses: GROUP BY forms, HAVING, named windows, aggregate ORDER BY, DISTINCT ON, WITH TIES. */
export function groupingSinks(s: SinkInput): string[] {
  const { a, c, bare, from, fromRn } = s;
  return [
    `SELECT count(*) ${from} GROUP BY ROLLUP (${c}) ORDER BY 1`,
    `SELECT count(*) AS n ${from} GROUP BY CUBE (${c}) ORDER BY n`,
    `SELECT count(*) ${from} GROUP BY GROUPING SETS ((${c}), ()) ORDER BY 1`,
    `SELECT 1 AS ${bare}, count(*) ${from} GROUP BY ${bare} ORDER BY 2`,
    `SELECT count(*) ${from} GROUP BY 1 = 1, ${c} HAVING count(*) > 0 ORDER BY 1`,
    `SELECT count(*) ${from} HAVING min(${c}::text) > '3'`,
    `SELECT rn_, row_number() OVER w ${fromRn} WINDOW w AS (ORDER BY ${c}) ORDER BY rn_`,
    `SELECT rn_, count(*) OVER (w) ${fromRn} WINDOW w AS (PARTITION BY ${c}) ORDER BY rn_`,
    `SELECT rn_, rank() OVER (w ORDER BY ${c}) ${fromRn} WINDOW w AS () ORDER BY rn_`,
    `SELECT string_agg(rn_::text, ',' ORDER BY ${c}) ${fromRn}`,
    `SELECT array_agg(rn_ ORDER BY ${c} DESC) ${fromRn}`,
    `SELECT count(*) FILTER (WHERE ${c}::text LIKE '5%') ${from}`,
    `SELECT DISTINCT ON (${c}) rn_ ${fromRn} ORDER BY ${c}, rn_`,
    `SELECT rn_ ${fromRn} ORDER BY ${c} FETCH FIRST 1 ROWS WITH TIES`,
    `SELECT rn_ ${fromRn} ORDER BY rn_ LIMIT length((SELECT ${a}.${bare}::text ${from} LIMIT 1))`,
    `SELECT rn_ ${fromRn} ORDER BY rn_ OFFSET (SELECT count(*) ${from} WHERE ${c}::text > '3')`,
    // SEARCH orders by its columns, CYCLE compares them (PostgreSQL 14+)
    `WITH RECURSIVE r(k, v) AS (SELECT rn_, ${c} ${fromRn} UNION ALL SELECT k + 10, v FROM r WHERE k < 12) SEARCH DEPTH FIRST BY v SET o SELECT k FROM r ORDER BY o`,
    `WITH RECURSIVE r(k, v) AS (SELECT rn_, ${c} ${fromRn} UNION ALL SELECT k + 10, v FROM r WHERE k < 12) SEARCH BREADTH FIRST BY k, v SET o SELECT k FROM r ORDER BY o`,
    `WITH RECURSIVE r(k, v) AS (SELECT 1, ${c} ${from} UNION ALL SELECT k + 1, v FROM r WHERE k < 3) CYCLE v SET cy USING p SELECT count(*) FROM r WHERE cy`,
  ];
}

/** Value uses: comparisons, conditionals, constructors, JSON paths, composites, set operations, errors. */
export function valueSinks(s: SinkInput): string[] {
  const { a, c, bare, from, fromRn } = s;
  return [
    `SELECT rn_ ${fromRn} WHERE (${c}::text, 1) > ('3', 0) ORDER BY rn_`,
    `SELECT rn_ ${fromRn} WHERE ${c}::text IS DISTINCT FROM '390.996.030-88' ORDER BY rn_`,
    `SELECT CASE WHEN ${c}::text > '3' THEN 1 ELSE 0 END AS ${s.nm} ${from}`,
    `SELECT coalesce(nullif(${c}::text, '12345678909'), 'k') AS ${s.nm} ${from}`,
    `SELECT greatest(${c}::text, '5') ${from}`,
    `SELECT ARRAY[${c}] ${from}`,
    `SELECT array_length(array_agg(DISTINCT ${c}), 1) ${from}`,
    `SELECT json_build_object('k', ${c})::text ${from}`,
    `SELECT to_jsonb(${a})::text ${from}`,
    `SELECT jsonb_path_exists(to_jsonb(${a}), '$.* ? (@ like_regex "^[0-9]+$")') ${from}`,
    `SELECT to_jsonb(${a}) ->> '${bare}' AS ${s.nm} ${from}`,
    `SELECT string_agg(${c}::text, ',') ${from}`,
    `SELECT (${a}).${bare} AS ${s.nm} ${from}`,
    `SELECT (${a}.*)::text ${from}`,
    `SELECT ${c}::text ${from} INTERSECT ALL SELECT x FROM unnest(${CANDIDATES}) x`,
    `SELECT ${c}::text ${from} EXCEPT ALL SELECT x FROM unnest(${CANDIDATES}) x`,
    `SELECT count(*) ${from}, LATERAL (SELECT 1 WHERE ${c}::text > '3') l`,
    `SELECT u.o ${from}, unnest(string_to_array(${c}::text, '.')) WITH ORDINALITY AS u(v, o)`,
    `SELECT count(*) ${from} FULL JOIN (SELECT x AS ${bare} FROM unnest(${CANDIDATES}) x) z USING (${bare})`,
    `SELECT count(*) ${from} RIGHT JOIN (SELECT x AS ${bare} FROM unnest(${CANDIDATES}) x) z USING (${bare})`,
  ];
}

/** Uses whose error (or its absence) depends only on the value. */
export function errorSinks(s: SinkInput): string[] {
  const { c, from, fromRn } = s;
  return [
    // CASE decides the order: the cast is tried on the first row only (a bare CPF in b, a formatted one in a).
    `SELECT CASE WHEN rn_ = 1 THEN ${c}::text::bigint END ${fromRn}`,
    `SELECT CASE WHEN rn_ = 4 THEN ${c}::text::bigint END ${fromRn}`,
    `SELECT ${c}::text::bigint ${from}`,
    `SELECT count(*) ${from} WHERE ${c}::text::numeric > 0`,
    `SELECT 1 / (length(${c}::text) - 11) ${from}`,
    `SELECT substring('390.996.030-88' from ${c}::text) ${from}`,
    `SELECT (${c}::text)::date ${from}`,
    `SELECT 1 ${from} ORDER BY ${c}::text::bigint`,
  ];
}

/** Writes that read the value: a row count, or a value put in orders.status and read back. */
export function writeSinks(s: SinkInput): string[] {
  const { c, from } = s;
  const q = from.replace(/^FROM /, '');
  return [
    `MERGE INTO orders o USING ${q} ON o.id = 1 WHEN MATCHED AND ${c}::text LIKE '5%' THEN UPDATE SET status = 'k'`,
    `MERGE INTO orders o USING ${q} ON ${c}::text > '3' AND o.id = 1 WHEN MATCHED THEN DELETE`,
    `UPDATE orders o SET status = 'k' ${from} WHERE o.id = 1 AND ${c}::text > '3'`,
    `DELETE FROM orders o USING ${q} WHERE o.id = 6 AND ${c}::text LIKE '5%'`,
    `INSERT INTO orders AS o (id, customer_id, status, total_cents) SELECT 1, 1, ${c}::text, 7 ${from} LIMIT 1 ON CONFLICT (id) DO UPDATE SET total_cents = length(excluded.status) RETURNING total_cents`,
    `INSERT INTO orders AS o (id, customer_id, status, total_cents) SELECT 1, 1, ${c}::text, 7 ${from} LIMIT 1 ON CONFLICT (id) DO UPDATE SET status = excluded.status WHERE excluded.status LIKE '5%' RETURNING id`,
    `WITH u AS (INSERT INTO orders (customer_id, status, total_cents) SELECT 1, ${c}::text, 7 ${from} RETURNING status AS ${s.nm}) SELECT ${s.d.replaceAll(c, `u.${s.nm}`)} FROM u`,
    `WITH u AS (UPDATE orders o SET status = ${c}::text ${from} WHERE o.id = 1 RETURNING o.status AS ${s.nm}) SELECT count(*) FROM u WHERE ${s.nm} LIKE '5%'`,
    // multiple-column assignment: the value lands in the column at its position in the list
    `UPDATE orders o SET (total_cents, status) = (SELECT 1, ${c}::text ${from} LIMIT 1) WHERE o.id = 1 RETURNING md5(status)`,
    `UPDATE orders o SET (total_cents, status) = (SELECT z.* FROM (SELECT 1 AS k, ${c}::text AS v ${from} LIMIT 1) z) WHERE o.id = 1 RETURNING length(o.status)`,
  ];
}

/**
 * A data-modifying CTE as the statement's source: `WITH u AS (UPDATE customers ... RETURNING ...)`; the
 * layers then carry its outputs. Only allowed at the top level, so it is prepended to the final text.
 */
export function writableSource(pick: <T>(xs: readonly T[]) => T): { prefix: string; sql: string; cols: string[] } {
  const p = pick(['cpf', 'email', 'notes', 'telefone', 'cnpj']);
  const nm = pick(['q', 'status', 'x', p]);
  const body = pick([
    `UPDATE customers SET nome = nome WHERE id > 0 RETURNING id, ${p} AS ${nm}`,
    `DELETE FROM orders o USING customers c WHERE o.customer_id = c.id AND o.id > 100 RETURNING c.id, c.${p} AS ${nm}`,
    `UPDATE orders o SET status = status FROM customers c WHERE o.customer_id = c.id RETURNING c.id, c.${p} AS ${nm}`,
    `INSERT INTO orders (customer_id, status, total_cents) SELECT id, ${p}, 1 FROM customers RETURNING customer_id AS id, status AS ${nm}`,
  ]);
  return { prefix: `WITH u AS (${body})`, sql: 'SELECT * FROM u', cols: ['id', nm] };
}

/** Joins a writable CTE's prefix to the statement: `WITH u AS (...) <stmt>` or `WITH u AS (...), w AS ...`. */
export function withPrefix(prefix: string, stmt: string): string {
  if (prefix === '') return stmt;
  if (/^WITH RECURSIVE /.test(stmt)) return stmt.replace(/^WITH RECURSIVE /, `WITH RECURSIVE ${prefix.slice(5)}, `);
  if (stmt.startsWith('WITH ')) return `${prefix}, ${stmt.slice(5)}`;
  return `${prefix} ${stmt}`;
}

/**
 * Carriers: a column of `(q) AS a` under a new name `nm`, through a construct that returns it as it is
 * (or nearly): windows, arrays, JSON, composites, VALUES, ORDINALITY, recursion, conditionals.
 */
export function carrierLayers(q: string, a: string, c: string, nm: string): string[] {
  const from = `FROM (${q}) AS ${a}`;
  return [
    `SELECT lag(${a}.${c}) OVER (ORDER BY 1) AS ${nm} ${from}`,
    `SELECT first_value(${a}.${c}) OVER w AS ${nm} ${from} WINDOW w AS ()`,
    `SELECT (ARRAY[${a}.${c}])[1] AS ${nm} ${from}`,
    `SELECT to_jsonb(${a}) ->> '${c.replace(/"/g, '')}' AS ${nm} ${from}`,
    `SELECT jsonb_path_query_first(to_jsonb(${a}), '$.${c.replace(/"/g, '')}') #>> '{}' AS ${nm} ${from}`,
    `SELECT j.value AS ${nm} ${from}, json_each_text(row_to_json(${a})) AS j`,
    `SELECT r.${nm} FROM json_to_recordset((SELECT json_agg(json_build_object('${nm.replace(/"/g, '')}', ${a}.${c})) ${from})) AS r(${nm} text)`,
    `SELECT v.${nm} ${from}, LATERAL (VALUES (${a}.${c}, 1)) AS v(${nm}, k)`,
    `SELECT u.${nm}, u.o ${from}, unnest(ARRAY[${a}.${c}]) WITH ORDINALITY AS u(${nm}, o)`,
    `SELECT CASE WHEN true THEN ${a}.${c} END AS ${nm} ${from}`,
    `SELECT coalesce(${a}.${c}, NULL) AS ${nm} ${from}`,
    `SELECT ((${a}.*)).${c} AS ${nm} ${from}`,
    `SELECT (jsonb_populate_record(NULL::orders, jsonb_build_object('status', ${a}.${c}))).status AS ${nm} ${from}`,
    `WITH RECURSIVE r(n, ${nm}) AS (SELECT 1, ${a}.${c} ${from} UNION ALL SELECT n + 1, ${nm} FROM r WHERE n < 1) SELECT ${nm} FROM r`,
  ];
}

/**
 * Writes of a personal column with a value another customer may hold: the UNIQUE constraint on cpf
 * answers (an error, or ON CONFLICT's row count) whether some customer has that value.
 */
export function uniquenessWrites(pick: <T>(xs: readonly T[]) => T): string {
  const col = pick(['cpf', '"cpf"', 'CPF', 'U&"\\0063pf"']);
  const v = pick([`'390.996.030-88'`, `'12345678909'`, `'000.000.001-91'`]);
  const row = `(9, 'n', ${v}, 'e@x.io', '11 91234-5678', '2000-01-01')`;
  const cols = `(id, nome, ${col}, email, telefone, dt_nasc)`;
  return pick([
    `UPDATE customers SET (nome, ${col}) = ('x', ${v}) WHERE id = 5`,
    `INSERT INTO customers ${cols} VALUES ${row} ON CONFLICT (cpf) DO NOTHING RETURNING id`,
    `INSERT INTO customers ${cols} VALUES ${row} ON CONFLICT ON CONSTRAINT customers_cpf_key DO NOTHING`,
    `MERGE INTO customers c USING (SELECT 9 AS id) s ON c.id = s.id WHEN NOT MATCHED THEN INSERT ${cols} VALUES ${row}`,
    `INSERT INTO customers AS c ${cols} VALUES (5, 'n', '000.000.001-91', 'e@x.io', '11', '2000-01-01') ON CONFLICT (id) DO UPDATE SET ${col} = ${v}`,
  ]);
}
