// The sensitive-column guard's adversarial corpus: every way a penetration tester would recover an
// identifier around output masking (transforms, casts, operators, aggregates, whole rows,
// comparisons that leak through counts or order, writes and exports), through every way of naming
// the column (aliases, CTEs, subqueries, views, *, USING, lateral joins, set operations), and the
// plain forms that stay allowed (masked on output).
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { AccessPolicy } from '../../crds/types.ts';
import { compilePolicy, initPolicyEngine, PolicyCompileError, type Identity } from './index.ts';
import { SensitiveColumnGuard, SensitiveColumnsConfigError } from './sql-columns.ts';

const CONFIG = {
  columns: ['public.customers.cpf', 'public.customers.email', 'public.customers.telefone'],
  relations: [
    { name: 'public.customers', columns: ['id', 'nome', 'cpf', 'cnpj', 'email', 'telefone', 'dt_nasc', 'notes'] },
    { name: 'public.orders', columns: ['id', 'customer_id', 'status', 'total_cents', 'created_at'] },
  ],
  views: [
    { name: 'public.contatos', query: 'SELECT c.id, c.nome, c.cpf AS documento, md5(c.email) AS email_hash FROM customers c WHERE c.cpf IS NOT NULL' },
    { name: 'resumo', query: 'SELECT id, documento FROM contatos' },
    { name: 'sem_pii', query: 'SELECT id, nome FROM customers WHERE cpf LIKE \'1%\'' },
  ],
};

let guard: SensitiveColumnGuard;

beforeAll(async () => {
  await initPolicyEngine();
  guard = new SensitiveColumnGuard(CONFIG);
  guard.validateViews();
});

const CPF = 'public.customers.cpf';
const EMAIL = 'public.customers.email';
const TEL = 'public.customers.telefone';

/** [sql, column expected in the first use (substring), use (substring), path (substring)] */
type Leak = readonly [sql: string, column: string, use: string, path?: string];

const LEAKS: readonly Leak[] = [
  // Transforms named in the issue, and their relatives.
  ["SELECT 'x' || cpf FROM customers", CPF, 'operator ||', 'select list item 1'],
  ['SELECT cpf || email FROM customers', CPF, 'operator ||'],
  ['SELECT reverse(cpf) FROM customers', CPF, 'function argument reverse()'],
  ['SELECT md5(cpf) FROM customers', CPF, 'function argument md5()', 'select list item 1'],
  ['SELECT sha256(cpf::bytea) FROM customers', CPF, 'cast to bytea'],
  ["SELECT encode(cpf::bytea, 'base64') FROM customers", CPF, 'cast to bytea'],
  ["SELECT encode(convert_to(cpf, 'UTF8'), 'hex') FROM customers", CPF, 'function argument convert_to()'],
  ['SELECT substr(cpf, 1, 3), substr(cpf, 5, 3) FROM customers', CPF, 'function argument substr()'],
  ['SELECT substring(cpf FROM 1 FOR 3) FROM customers', CPF, 'function argument substring()'],
  ['SELECT left(cpf, 6), right(cpf, 6) FROM customers', CPF, 'function argument left()'],
  ["SELECT string_agg(cpf, ',') FROM customers", CPF, 'aggregate string_agg()'],
  ["SELECT string_agg(nome, ',' ORDER BY cpf) FROM customers", CPF, 'ORDER BY of string_agg()'],
  ['SELECT array_agg(email) FROM customers', EMAIL, 'aggregate array_agg()'],
  ['SELECT json_agg(telefone) FROM customers', TEL, 'aggregate json_agg()'],
  ['SELECT count(*) FILTER (WHERE cpf > \'5\') FROM customers', CPF, 'comparison >', 'select list item 1'],
  ['SELECT max(cpf) FROM customers', CPF, 'aggregate max()'],
  ["SELECT translate(cpf, '0123456789', 'abcdefghij') FROM customers", CPF, 'function argument translate()'],
  ["SELECT replace(cpf, '.', '') FROM customers", CPF, 'function argument replace()'],
  ["SELECT regexp_replace(cpf, '\\D', '', 'g') FROM customers", CPF, 'function argument regexp_replace()'],
  ['SELECT cpf::bigint FROM customers', CPF, 'cast to int8'],
  ['SELECT CAST(cpf AS bigint) FROM customers', CPF, 'cast to int8'],
  ['SELECT cpf::text FROM customers', CPF, 'cast to text'],
  ['SELECT lpad(cpf, 20, \'*\') FROM customers', CPF, 'function argument lpad()'],
  ["SELECT format('%s', cpf) FROM customers", CPF, 'function argument format()'],
  ["SELECT concat('a', cpf) FROM customers", CPF, 'function argument concat()'],
  ["SELECT concat_ws('-', nome, email) FROM customers", EMAIL, 'function argument concat_ws()'],
  ['SELECT upper(email), lower(email) FROM customers', EMAIL, 'function argument upper()'],
  ['SELECT split_part(email, \'@\', 1) FROM customers', EMAIL, 'function argument split_part()'],
  ['SELECT length(cpf), ascii(cpf) FROM customers', CPF, 'function argument length()'],
  ['SELECT to_hex(cpf::bigint) FROM customers', CPF, 'cast to int8'],
  ['SELECT cpf COLLATE "C" FROM customers', CPF, 'COLLATE'],
  ['SELECT (cpf)[1] FROM customers', CPF, 'subscript or field selection'],
  ["SELECT to_jsonb(cpf) -> 0 FROM customers", CPF, 'function argument to_jsonb()'],
  ["SELECT email::jsonb ->> 'x' FROM customers", EMAIL, 'cast to jsonb'],
  ['SELECT ARRAY[cpf] FROM customers', CPF, 'ARRAY[]'],
  ['SELECT ROW(cpf, 1) FROM customers', CPF, 'ROW()'],
  ['SELECT coalesce(cpf, \'\') FROM customers', CPF, 'COALESCE()'],
  ['SELECT greatest(cpf, \'0\') FROM customers', CPF, 'GREATEST()/LEAST()'],
  ['SELECT nullif(cpf, \'\') FROM customers', CPF, 'NULLIF()'],
  ["SELECT CASE WHEN cpf LIKE '1%' THEN 1 ELSE 0 END FROM customers", CPF, 'comparison LIKE'],
  ['SELECT CASE cpf WHEN \'1\' THEN 1 END FROM customers', CPF, 'CASE'],
  ['SELECT CASE WHEN id = 1 THEN cpf END FROM customers', CPF, 'CASE'],
  ['SELECT cpf IS NULL FROM customers', CPF, 'IS NULL test'],
  ['SELECT xmlelement(name x, cpf) FROM customers', CPF, 'XML function'],
  ["SELECT json_build_object('c', cpf) FROM customers", CPF, 'function argument json_build_object()'],
  ["SELECT JSON_OBJECT('c' VALUE cpf) FROM customers", CPF, 'JSON'],
  ['SELECT cpf FROM customers GROUP BY cpf', CPF, 'grouping', 'GROUP BY item 1'],
  // Whole-row references.
  ['SELECT row_to_json(c) FROM customers c', CPF, 'whole-row reference'],
  ['SELECT to_jsonb(c.*) FROM customers c', CPF, 'whole-row reference'],
  ['SELECT c::text FROM customers c', CPF, 'whole-row reference in cast to text'],
  ['SELECT c FROM customers c', CPF, 'whole-row reference'],
  ['SELECT customers FROM customers', CPF, 'whole-row reference'],
  ['SELECT (c).cpf FROM customers c', CPF, 'whole-row reference'],
  ['SELECT hstore(c) FROM customers c', CPF, 'whole-row reference'],
  ['SELECT md5(c::text) FROM public.customers AS c', CPF, 'whole-row reference'],
  ['SELECT x FROM (SELECT c FROM customers c) s(x)', CPF, 'whole-row reference'],
  // Comparisons: rows counted, filtered or ordered by a personal value leak it bit by bit.
  ["SELECT id FROM customers WHERE cpf LIKE '123%'", CPF, 'comparison LIKE', 'WHERE'],
  ["SELECT id FROM customers WHERE cpf ILIKE '1%'", CPF, 'comparison ILIKE', 'WHERE'],
  ["SELECT id FROM customers WHERE cpf SIMILAR TO '1%'", CPF, 'comparison SIMILAR TO'],
  ["SELECT id FROM customers WHERE cpf ~ '^1'", CPF, 'comparison ~'],
  ["SELECT id FROM customers WHERE cpf > '5'", CPF, 'comparison >'],
  ["SELECT id FROM customers WHERE cpf BETWEEN '1' AND '2'", CPF, 'comparison BETWEEN'],
  ["SELECT id FROM customers WHERE cpf IN ('1', '2')", CPF, 'comparison IN'],
  ["SELECT id FROM customers WHERE cpf = ANY('{1,2}')", CPF, 'comparison ANY'],
  ["SELECT id FROM customers WHERE cpf = '590.830.166-33'", CPF, 'comparison =', 'WHERE'],
  ["SELECT id FROM customers WHERE cpf IS DISTINCT FROM 'x'", CPF, 'comparison IS DISTINCT FROM'],
  ["SELECT id FROM customers WHERE starts_with(cpf, '1')", CPF, 'function argument starts_with()'],
  ["SELECT id FROM customers WHERE NOT (cpf < '5')", CPF, 'comparison <'],
  ['SELECT id FROM customers WHERE id = 1 OR cpf IS NULL', CPF, 'IS NULL test'],
  ['SELECT id FROM customers ORDER BY cpf', CPF, 'ordering', 'ORDER BY item 1'],
  ['SELECT cpf FROM customers ORDER BY 1', CPF, 'ordering', 'ORDER BY item 1'],
  ['SELECT cpf AS d FROM customers ORDER BY d DESC', CPF, 'ordering', 'ORDER BY item 1'],
  ['SELECT id FROM customers ORDER BY reverse(cpf)', CPF, 'function argument reverse()', 'ORDER BY'],
  ["SELECT count(*) FROM customers GROUP BY substr(cpf, 1, 1)", CPF, 'function argument substr()', 'GROUP BY'],
  ["SELECT count(*) FROM customers GROUP BY id HAVING max(cpf) > '5'", CPF, 'aggregate max()', 'HAVING'],
  ['SELECT DISTINCT ON (cpf) id FROM customers', CPF, 'DISTINCT ON'],
  ['SELECT DISTINCT cpf FROM customers', CPF, 'DISTINCT'],
  ['SELECT id, rank() OVER (ORDER BY cpf) FROM customers', CPF, 'window ordering'],
  ['SELECT id, count(*) OVER (PARTITION BY email) FROM customers', EMAIL, 'window partition'],
  ['SELECT id, row_number() OVER w FROM customers WINDOW w AS (ORDER BY cpf)', CPF, 'window ordering', 'WINDOW w'],
  ['SELECT lag(cpf) OVER (ORDER BY id) FROM customers', CPF, 'window function lag()'],
  ["SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id AND c.cpf LIKE '1%'", CPF, 'comparison LIKE', 'JOIN ON'],
  ['SELECT a.id FROM customers a JOIN customers b ON a.cpf = b.cpf', CPF, 'comparison =', 'JOIN ON'],
  ['SELECT * FROM customers a JOIN customers b USING (cpf)', CPF, 'join condition USING', 'JOIN USING'],
  ['SELECT * FROM customers NATURAL JOIN (SELECT cpf FROM customers) x', CPF, 'NATURAL JOIN'],
  ["SELECT id FROM customers LIMIT (SELECT length(cpf) FROM customers LIMIT 1)", CPF, 'function argument length()'],
  ["SELECT id FROM orders WHERE EXISTS (SELECT 1 FROM customers c WHERE c.id = orders.customer_id AND c.cpf LIKE '1%')", CPF, 'comparison LIKE'],
  ["SELECT id FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE email = 'a@b.c')", EMAIL, 'comparison ='],
  ['SELECT id FROM customers WHERE cpf IN (SELECT cpf FROM customers)', CPF, 'comparison'],
  ["SELECT id FROM orders WHERE 'x' = ANY (SELECT cpf FROM customers)", CPF, 'comparison IN/ANY/ALL (subquery)'],
  ['SELECT (SELECT cpf FROM customers LIMIT 1)', CPF, 'scalar subquery'],
  ['SELECT ARRAY(SELECT cpf FROM customers)', CPF, 'ARRAY(subquery)'],
  // Names: aliases, CTEs, subqueries, views, lateral joins, set operations.
  ['SELECT md5(c.cpf) FROM customers c', CPF, 'function argument md5()'],
  ['SELECT md5(public.customers.cpf) FROM public.customers', CPF, 'function argument md5()'],
  ['SELECT md5(customers.cpf) FROM public.customers', CPF, 'function argument md5()'],
  ['SELECT md5("cpf") FROM "customers"', CPF, 'function argument md5()'],
  ['SELECT md5(CPF) FROM CUSTOMERS', CPF, 'function argument md5()'],
  ['SELECT md5(d) FROM (SELECT cpf AS d FROM customers) s', CPF, 'function argument md5()'],
  ['SELECT md5(s.d) FROM (SELECT c.cpf AS d FROM customers c) AS s', CPF, 'function argument md5()'],
  ['SELECT md5(x) FROM (SELECT * FROM customers) s(a, b, x)', CPF, 'function argument md5()'],
  ['SELECT md5(s.cpf) FROM (SELECT * FROM customers) s', CPF, 'function argument md5()'],
  ['SELECT md5(s.cpf) FROM (SELECT c.* FROM customers c) s', CPF, 'function argument md5()'],
  ['WITH x AS (SELECT cpf AS d FROM customers) SELECT reverse(d) FROM x', CPF, 'function argument reverse()'],
  ['WITH x(d) AS (SELECT cpf FROM customers) SELECT reverse(d) FROM x', CPF, 'function argument reverse()'],
  ['WITH x AS (SELECT * FROM customers), y AS (SELECT cpf AS z FROM x) SELECT md5(z) FROM y', CPF, 'function argument md5()'],
  ['WITH RECURSIVE r(n, d) AS (SELECT 1, cpf FROM customers UNION ALL SELECT n + 1, d FROM r WHERE n < 3) SELECT md5(d) FROM r', CPF, 'function argument md5()'],
  ["WITH RECURSIVE r(d) AS (SELECT cpf FROM customers UNION ALL SELECT substr(d, 2) FROM r WHERE d <> '') SELECT d FROM r", CPF, 'function argument substr()'],
  ['SELECT md5(documento) FROM contatos', CPF, 'function argument md5()'],
  ['SELECT md5(documento) FROM public.contatos', CPF, 'function argument md5()'],
  ['SELECT email_hash FROM contatos', EMAIL, 'column computed from a personal column'],
  ['SELECT md5(documento) FROM resumo', CPF, 'function argument md5()'],
  ['SELECT row_to_json(r) FROM resumo r', CPF, 'whole-row reference'],
  ['SELECT upper(x.u) FROM customers c, LATERAL (SELECT c.cpf AS u) x', CPF, 'function argument upper()'],
  ['SELECT * FROM customers c, LATERAL (SELECT upper(c.cpf)) x', CPF, 'function argument upper()'],
  ['SELECT * FROM customers c CROSS JOIN LATERAL unnest(ARRAY[c.cpf]) u', CPF, 'ARRAY[]'],
  ['SELECT * FROM customers c, generate_series(1, length(c.cpf)) g', CPF, 'function argument length()'],
  ["SELECT * FROM customers c, regexp_split_to_table(c.email, '@') p", EMAIL, 'function argument regexp_split_to_table()', 'FROM regexp_split_to_table()'],
  ["SELECT * FROM customers c, jsonb_each_text(jsonb_build_object('c', c.cpf)) j", CPF, 'function argument jsonb_build_object()'],
  ['SELECT cpf FROM customers UNION SELECT email FROM customers', CPF, 'UNION (compares rows)'],
  ['SELECT cpf FROM customers INTERSECT SELECT cpf FROM customers', CPF, 'INTERSECT'],
  ['SELECT cpf FROM customers EXCEPT SELECT \'1\'', CPF, 'EXCEPT'],
  ['SELECT id FROM orders UNION ALL SELECT md5(cpf) FROM customers', CPF, 'function argument md5()', 'UNION ALL branch 2'],
  ['SELECT cpf FROM customers UNION ALL SELECT email FROM customers ORDER BY 1', CPF, 'ordering'],
  ['SELECT md5(j.cpf) FROM (customers c JOIN orders o ON o.customer_id = c.id) AS j', CPF, 'function argument md5()'],
  ['SELECT md5(t.cpf) FROM customers t(cpf)', CPF, 'function argument md5()'],
  // Unresolvable: fail closed.
  ['SELECT md5(cpf) FROM audit_log', 'audit_log.cpf (unknown relation', 'function argument md5()'],
  ['SELECT row_to_json(a) FROM audit_log a', 'audit_log.* (unknown relation', 'whole-row reference'],
  ['SELECT * FROM customer_report(1)', 'customer_report() result', 'function in FROM customer_report()'],
  ['SELECT * FROM ROWS FROM (customer_report(1)) r', 'customer_report() result', 'function in FROM'],
  ['SELECT md5(z) FROM customers AS c(a, b, z) ', CPF, 'function argument md5()'],
  ['SELECT x.y.cpf FROM customers', 'x.y.cpf (unresolved)', 'reference the guard cannot resolve'],
  // Writes and exports.
  ['COPY (SELECT cpf FROM customers) TO STDOUT', CPF, 'exported by COPY (query) TO', 'COPY (query) TO: select list item 1'],
  ['COPY (SELECT * FROM customers) TO STDOUT WITH (FORMAT csv)', CPF, 'exported by COPY'],
  ['COPY customers TO STDOUT', CPF, 'COPY table TO'],
  ['COPY customers (id, email) TO STDOUT', EMAIL, 'COPY table TO'],
  ['COPY (UPDATE customers SET nome = nome WHERE id = 1 RETURNING cpf) TO STDOUT', CPF, 'RETURNING'],
  ['INSERT INTO orders_archive SELECT cpf FROM customers', CPF, 'stored into another table', 'INSERT ... SELECT'],
  ['INSERT INTO orders_archive SELECT * FROM customers', CPF, 'stored into another table'],
  ['INSERT INTO orders_archive (note) VALUES ((SELECT cpf FROM customers LIMIT 1))', CPF, 'scalar subquery'],
  ['CREATE TABLE leak AS SELECT cpf FROM customers', CPF, 'stored into another table', 'CREATE TABLE AS'],
  ['SELECT cpf INTO leak FROM customers', CPF, 'SELECT INTO'],
  ['CREATE VIEW v AS SELECT cpf AS d FROM customers', CPF, 'stored into another table', 'CREATE VIEW'],
  ['UPDATE customers SET notes = cpf WHERE id = 1', CPF, 'assigned to a column', 'SET'],
  ['UPDATE orders SET status = c.email FROM customers c WHERE c.id = orders.customer_id', EMAIL, 'assigned to a column'],
  ["UPDATE customers SET notes = 'x' WHERE cpf LIKE '1%'", CPF, 'comparison LIKE', 'WHERE'],
  ["UPDATE customers SET nome = 'x' WHERE id = 1 RETURNING cpf", CPF, 'RETURNING of a UPDATE', 'RETURNING'],
  ['UPDATE customers SET nome = nome WHERE id = 1 RETURNING *', CPF, 'RETURNING'],
  ["DELETE FROM customers WHERE id = 1 RETURNING md5(email)", EMAIL, 'function argument md5()'],
  ["DELETE FROM orders USING customers c WHERE c.id = orders.customer_id AND c.cpf > '5'", CPF, 'comparison >'],
  ["INSERT INTO customers (id, nome, cpf, email, telefone, dt_nasc) VALUES (99, 'x', '1', 'e', 't', now()) ON CONFLICT (id) DO UPDATE SET notes = excluded.cpf", CPF, 'assigned to a column'],
  ["INSERT INTO customers (id) VALUES (1) RETURNING cpf", CPF, 'RETURNING of a INSERT'],
  ['WITH d AS (DELETE FROM customers WHERE id = 9 RETURNING *) SELECT * FROM d', CPF, 'RETURNING of a DELETE', 'CTE d: RETURNING'],
  ['MERGE INTO orders o USING customers c ON o.customer_id = c.id WHEN MATCHED THEN UPDATE SET status = c.cpf', CPF, 'MERGE action'],
  ["MERGE INTO orders o USING customers c ON o.customer_id = c.id AND c.cpf LIKE '1%' WHEN MATCHED THEN DELETE", CPF, 'comparison LIKE', 'MERGE ON'],
  // Statements run later or elsewhere.
  ["EXPLAIN ANALYZE SELECT id FROM customers WHERE cpf LIKE '1%'", CPF, 'comparison LIKE'],
  ['PREPARE p AS SELECT md5(cpf) FROM customers', CPF, 'function argument md5()'],
  ["DECLARE cur CURSOR FOR SELECT id FROM customers WHERE cpf LIKE '1%'", CPF, 'comparison LIKE'],
  ['CREATE INDEX ON customers (md5(cpf))', CPF, 'column reference', 'Index statement'],
  ['CALL audit(1, (SELECT cpf FROM customers LIMIT 1))', CPF, 'column reference', 'Call statement'],
  // The arguments do not see the sampled table (PostgreSQL: column "cpf" does not exist), only the enclosing query's.
  ['SELECT c.id, (SELECT count(*) FROM orders TABLESAMPLE SYSTEM (length(c.cpf))) FROM customers c', CPF, 'function argument length()', 'TABLESAMPLE'],
  ['SELECT count(*) FROM customers GROUP BY ROLLUP (cpf)', CPF, 'grouping', 'GROUP BY'],
  // An integer inside ROLLUP/CUBE/GROUPING SETS is a select-list position, as at the top of GROUP BY.
  ['SELECT cpf, count(*) FROM customers GROUP BY ROLLUP (1)', CPF, 'grouping', 'GROUP BY item 1'],
  ['SELECT cpf FROM customers GROUP BY GROUPING SETS ((1), ())', CPF, 'grouping'],
  ['SELECT id, cpf FROM customers GROUP BY CUBE ((1, 2))', CPF, 'grouping', 'GROUP BY item 2'],
  ['SELECT id, email FROM customers GROUP BY GROUPING SETS (ROLLUP (2), CUBE (1))', EMAIL, 'grouping'],
  ['SELECT cpf(c) FROM customers c', CPF, 'whole-row reference in function argument cpf()'],
  ['SELECT (customers.*).cpf FROM customers', CPF, 'whole-row reference'],
  ['VALUES ((SELECT md5(cpf) FROM customers LIMIT 1))', CPF, 'function argument md5()'],
  ['SELECT unnest(ARRAY[cpf, email]) FROM customers', CPF, 'ARRAY[]'],
  ["SELECT jsonb_path_query(to_jsonb(c), '$.cpf') FROM customers c", CPF, 'whole-row reference'],
  ["SELECT id FROM customers WHERE cpf = ANY($1)", CPF, 'comparison ANY'],
  ["SELECT id FROM customers WHERE (cpf, id) > ('5', 0)", CPF, 'ROW()', 'WHERE'],
  ['SELECT id FROM ONLY customers WHERE cpf IS NOT NULL', CPF, 'IS NULL test'],
  ["SELECT id FROM customers WHERE cpf::bigint % 2 = 0", CPF, 'cast to int8'],
  ['SELECT octet_length(email), bit_length(email) FROM customers', EMAIL, 'function argument octet_length()'],
  ["SELECT position('@' IN email) FROM customers", EMAIL, 'function argument position()'],
  ["SELECT overlay(cpf PLACING 'x' FROM 1 FOR 1) FROM customers", CPF, 'function argument overlay()'],
  ["SELECT cpf FROM customers WHERE id = 1 UNION SELECT cpf FROM customers WHERE id = 2", CPF, 'UNION (compares rows)'],
  ["WITH t AS MATERIALIZED (SELECT cpf FROM customers) SELECT count(*) FROM t WHERE cpf < '5'", CPF, 'comparison <'],
  ["SELECT * FROM customers c JOIN LATERAL (SELECT id FROM orders WHERE c.cpf LIKE '1%') o ON true", CPF, 'comparison LIKE'],
  ['SELECT EXISTS (SELECT 1 FROM customers WHERE email LIKE \'a%\')', EMAIL, 'comparison LIKE'],
  // Multi-statement texts: the statement is named.
  ['SELECT 1; SELECT upper(email) FROM customers', EMAIL, 'function argument upper()'],
  // Found in review (issue 18): recursive CTE SEARCH sorts by its columns (ORDER BY the sequence
  // column returns rows in CPF order), CYCLE compares them with every earlier row and collects them into the path array.
  ['WITH RECURSIVE t(n, c) AS (SELECT 1, cpf FROM customers UNION ALL SELECT n + 1, c FROM t WHERE n < 2) SEARCH DEPTH FIRST BY c SET ord SELECT n FROM t ORDER BY ord', CPF, 'SEARCH DEPTH FIRST BY', 'CTE t: SEARCH'],
  ['WITH RECURSIVE t(c) AS (SELECT email FROM customers UNION ALL SELECT c FROM t) SEARCH BREADTH FIRST BY c SET ord SELECT ord FROM t', EMAIL, 'SEARCH BREADTH FIRST BY'],
  ['WITH RECURSIVE t(n, c) AS (SELECT 1, cpf FROM customers UNION ALL SELECT n + 1, c FROM t WHERE n < 2) CYCLE c SET is_cycle USING path SELECT n, path FROM t', CPF, 'CYCLE (compares rows)', 'CTE t: CYCLE'],
  ['WITH RECURSIVE t(n, c) AS (SELECT 1, cpf FROM customers UNION ALL SELECT n + 1, c FROM t WHERE n < 2) CYCLE c SET is_cycle USING path SELECT md5(p::text) FROM t, unnest(path) p', CPF, 'CYCLE'],
  // The recursive branch reads back what it returned: a personal column it adds is compared or transformed from the second round on.
  ["WITH RECURSIVE t(n, c) AS (SELECT 1, 'x'::text UNION ALL SELECT n + 1, cu.cpf FROM t JOIN customers cu ON cu.id = t.n WHERE t.c LIKE '1%' AND n < 3) SELECT n FROM t", CPF, 'comparison LIKE', 'UNION ALL branch 2: WHERE'],
  ["WITH RECURSIVE t(n, c, d) AS (SELECT 1, 'x'::text, 'y'::text UNION ALL SELECT n + 1, cu.email, t.c FROM t JOIN customers cu ON cu.id = t.n WHERE t.d > '5' AND n < 3) SELECT n FROM t", EMAIL, 'comparison >'],
  ["WITH RECURSIVE t(n, c, d) AS (SELECT 1, 'x'::text, 'y'::text UNION ALL SELECT n + 1, cu.cpf, t.c FROM t JOIN customers cu ON cu.id = t.n WHERE n < 3) SELECT md5(d) FROM t", CPF, 'function argument md5()'],
  // Planner statistics: ANALYZE copies sampled values of every column into pg_stats (most common values, histogram bounds).
  ["SELECT histogram_bounds FROM pg_stats WHERE tablename = 'customers' AND attname = 'cpf'", 'pg_stats.histogram_bounds', 'column computed from a personal column'],
  ['SELECT md5(most_common_vals::text) FROM pg_catalog.pg_stats', 'pg_stats.most_common_vals', 'cast to text'],
  ['SELECT * FROM pg_stats', 'pg_stats.most_common_vals', 'column computed from a personal column'],
  ['SELECT row_to_json(s) FROM pg_stats s', 'pg_stats.', 'whole-row reference'],
  ['SELECT most_common_vals FROM pg_stats_ext', 'pg_stats_ext.most_common_vals', 'column computed'],
  ['SELECT histogram_bounds FROM pg_stats_ext_exprs', 'pg_stats_ext_exprs.histogram_bounds', 'column computed'],
  ['SELECT stavalues1 FROM pg_statistic', 'pg_statistic.stavalues1', 'column computed'],
  // Other sessions' statement texts (all agents share the sidecar's database role) hold their literals.
  ["SELECT md5(query) FROM pg_stat_activity WHERE usename = current_user", 'pg_stat_activity.query', 'function argument md5()'],
  ["SELECT pid FROM pg_catalog.pg_stat_activity WHERE query LIKE '%cpf = %'", 'pg_stat_activity.query', 'comparison LIKE'],
  // A cursor declared with plain personal columns comes back from cursor_to_xml as one XML text.
  ["SELECT cursor_to_xml('cur', 10, false, false, '')", 'cursor_to_xml() result', 'function cursor_to_xml()'],
  ["SELECT * FROM xpath('//cpf/text()', cursor_to_xml('cur', 10, false, false, ''))", 'cursor_to_xml() result', 'function cursor_to_xml()'],
  ["SELECT table_to_xml('customers', false, false, '')", 'table_to_xml() result', 'function table_to_xml()'],
  ["SELECT query_to_xml('SELECT cpf FROM customers', false, false, '')", 'query_to_xml() result', 'function query_to_xml()'],
  ["SELECT encode(pg_read_binary_file('base/16384/16390'), 'escape')", 'pg_read_binary_file() result', 'function pg_read_binary_file()'],
  ['SELECT lo_get(16400)', 'lo_get() result', 'function lo_get()'],
  // Subscripts of assigned columns decide where a value is stored; the ON CONFLICT arbiter compares with stored values.
  ['INSERT INTO orders_archive (tags[(SELECT ascii(cpf) FROM customers LIMIT 1)]) VALUES (\'x\')', CPF, 'function argument ascii()', 'INSERT column list'],
  ['UPDATE orders_archive SET tags[(SELECT length(email) FROM customers LIMIT 1)] = \'x\' WHERE id = 1', EMAIL, 'function argument length()', 'SET'],
  ['INSERT INTO orders_archive (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET tags[(SELECT ascii(cpf) FROM customers LIMIT 1)] = \'x\'', CPF, 'function argument ascii()', 'ON CONFLICT DO UPDATE SET'],
  ["INSERT INTO customers (id, nome, cpf) VALUES (1, 'x', '111.444.777-35') ON CONFLICT (cpf) DO NOTHING RETURNING id", CPF, 'ON CONFLICT arbiter', 'ON CONFLICT target'],
  ["INSERT INTO customers AS c (id, email) VALUES (1, 'a@b.c') ON CONFLICT (email) DO NOTHING", EMAIL, 'ON CONFLICT arbiter'],
  ["INSERT INTO customers (id, email) VALUES (1, 'a@b.c') ON CONFLICT ((lower(email))) DO NOTHING", EMAIL, 'function argument lower()'],
];

const ALLOWED: readonly string[] = [
  'SELECT cpf FROM customers',
  'SELECT cpf FROM customers WHERE id = 4',
  'SELECT c.cpf AS doc FROM customers c',
  'SELECT public.customers.cpf FROM public.customers',
  'SELECT * FROM customers',
  'SELECT c.* FROM customers c WHERE c.id = 1',
  'SELECT nome, cpf, email, telefone FROM customers ORDER BY nome LIMIT 10',
  'SELECT id, nome FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE status = \'open\')',
  'SELECT o.*, c.nome, c.cpf FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = 7',
  'SELECT * FROM orders o JOIN customers c USING (id)',
  'SELECT * FROM customers NATURAL JOIN orders',
  'SELECT count(*) FROM customers',
  'SELECT count(*), max(total_cents) FROM orders GROUP BY status',
  'SELECT d FROM (SELECT cpf AS d FROM customers) s',
  'SELECT x FROM (SELECT * FROM customers) s(a, b, x)',
  'WITH x AS (SELECT cpf, nome FROM customers WHERE id = 3) SELECT * FROM x',
  'WITH x AS (SELECT * FROM customers) SELECT x.cpf AS documento FROM x',
  'SELECT cpf FROM customers UNION ALL SELECT email FROM customers',
  'SELECT documento FROM contatos',
  'SELECT * FROM resumo',
  'SELECT id, nome FROM sem_pii',
  'SELECT * FROM generate_series(1, 3)',
  'SELECT row_to_json(o) FROM orders o',
  'SELECT md5(nome), upper(status) FROM customers, orders',
  "UPDATE customers SET notes = 'ligar' WHERE id = 4",
  // Writing a value into a personal column is a use (reviews 24 and 25: sql-round16-attacks.test.ts); NULL is none.
  'UPDATE customers SET email = NULL WHERE id = 4',
  "INSERT INTO customers (id, nome, cpf, email, telefone, dt_nasc) VALUES (99, 'x', DEFAULT, NULL, NULL, '2000-01-01')",
  'DELETE FROM orders WHERE id = 4 RETURNING id, status',
  'COPY orders TO STDOUT',
  'COPY (SELECT id, status FROM orders) TO STDOUT',
  'COPY customers (id, nome) TO STDOUT',
  'COPY customers (id, nome) FROM STDIN', // COPY FROM into a personal column is a use (review 24: sql-round16-attacks.test.ts)
  'DECLARE cur CURSOR FOR SELECT cpf FROM customers',
  'EXPLAIN SELECT id, nome FROM customers',
  'BEGIN',
  'SET application_name = \'x\'',
  'SELECT now(), current_user',
  'TABLE customers',
  'SELECT cpf FROM customers WHERE id = 1 FOR UPDATE',
  'SELECT cpf FROM ONLY public.customers LIMIT 5',
  'SELECT * FROM customers c, LATERAL (SELECT c.cpf AS doc) x',
  'SELECT cpf FROM customers WHERE id = 1 UNION ALL SELECT cpf FROM customers WHERE id = 2',
  // Found in review: what a real agent sends and must keep working.
  'SELECT id, nome FROM customers WHERE id = 4',
  // Review 35: the figures (null_frac, n_distinct, avg_width, correlation) are uses now; names are not.
  "SELECT attname, inherited FROM pg_stats WHERE tablename = 'customers'",
  'WITH RECURSIVE t(n, c) AS (SELECT 1, cpf FROM customers UNION ALL SELECT n + 1, c FROM t WHERE n < 2) SELECT n, c FROM t',
  'WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) SEARCH DEPTH FIRST BY n SET ord CYCLE n SET is_cycle USING path SELECT * FROM t ORDER BY ord',
  "SELECT cursor_to_xmlschema('cur', false, false, '')",
  // pgbench's statements and psql's \\d catalog queries.
  'UPDATE pgbench_accounts SET abalance = abalance + -4117 WHERE aid = 4',
  'SELECT abalance FROM pgbench_accounts WHERE aid = 4',
  'INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 4, -4117, CURRENT_TIMESTAMP)',
  "SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relname OPERATOR(pg_catalog.~) '^(customers)$' COLLATE pg_catalog.default AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 2, 3",
  "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_catalog.pg_attribute a WHERE a.attrelid = '16384' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
  'SELECT * FROM pg_catalog.pg_type WHERE typname = ANY($1)',
  "INSERT INTO customers (id, nome) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET nome = excluded.nome",
  "UPDATE orders_archive SET tags[2] = 'x' WHERE id = 1",
  'SELECT cpf, id FROM customers GROUP BY ROLLUP (2)',
  'SELECT pid, state, query FROM pg_stat_activity',
  'SELECT * FROM pg_stat_activity',
  "WITH RECURSIVE t(n, c) AS (SELECT 1, 'x'::text UNION ALL SELECT n + 1, cu.cpf FROM t JOIN customers cu ON cu.id = t.n WHERE n < 3) SELECT n, c FROM t",
  // psql 15's \\d customers (triggers of a table and of its partition ancestors).
  "SELECT t.tgname, pg_catalog.pg_get_triggerdef(t.oid, true), t.tgenabled, t.tgisinternal, CASE WHEN t.tgparentid != 0 THEN (SELECT u.tgrelid::pg_catalog.regclass FROM pg_catalog.pg_trigger AS u, pg_catalog.pg_partition_ancestors(t.tgrelid) WITH ORDINALITY AS a(relid, depth) WHERE u.tgname = t.tgname AND u.tgrelid = a.relid AND u.tgparentid = 0 ORDER BY a.depth LIMIT 1) END AS parent FROM pg_catalog.pg_trigger t WHERE t.tgrelid = '18019' AND (NOT t.tgisinternal OR (t.tgisinternal AND t.tgenabled = 'D') OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend WHERE objid = t.oid AND refclassid = 'pg_catalog.pg_trigger'::pg_catalog.regclass)) ORDER BY 1",
];

describe('sensitive-column guard: uses that recover identifiers', () => {
  it('has a corpus wider than the issue', () => {
    expect(LEAKS.length).toBeGreaterThanOrEqual(150);
    expect(new Set(LEAKS.map((l) => l[0])).size).toBe(LEAKS.length);
  });

  it.each(LEAKS.map((l) => [l[0], l] as const))('%s', (_sql, [sql, column, use, path]) => {
    const uses = guard.check(sql);
    expect(uses.length).toBeGreaterThan(0);
    // The expected use is among those reported (one statement can use several columns several ways).
    const hit = uses.find((u) => u.column.includes(column) && u.use.includes(use) && (path === undefined || u.path.includes(path)));
    expect({ sql, uses, hit: hit !== undefined }).toEqual({ sql, uses, hit: true });
  });
});

describe('sensitive-column guard: plain returned columns stay allowed', () => {
  it.each(ALLOWED.map((s) => [s] as const))('%s', (sql) => {
    expect(guard.check(sql)).toEqual([]);
  });
});

describe('sensitive-column guard: configuration', () => {
  it('names the entry that is not [schema.]table.column', () => {
    expect(() => new SensitiveColumnGuard({ columns: ['cpf'] })).toThrow(SensitiveColumnsConfigError);
    expect(() => new SensitiveColumnGuard({ columns: ['public.customers.cpf', 'a.b.c.d'] })).toThrow(/^columns\[1\]: "a\.b\.c\.d" is not \[schema\.\]table\.column/);
  });

  it('refuses a view definition that is not one SELECT, naming the field', () => {
    const g = new SensitiveColumnGuard({ columns: ['customers.cpf'], views: [{ name: 'v', query: 'DELETE FROM customers' }] });
    expect(() => g.validateViews()).toThrow(/^views\[0\]\.query: must be exactly one SELECT/);
    const bad = new SensitiveColumnGuard({ columns: ['customers.cpf'], views: [{ name: 'v', query: 'SELEC cpf' }] });
    expect(() => bad.validateViews()).toThrow(/^views\[0\]\.query: the view definition does not parse/);
  });

  it('fails closed on a view defined through itself', () => {
    const g = new SensitiveColumnGuard({ columns: ['customers.cpf'], views: [{ name: 'v', query: 'SELECT * FROM w' }, { name: 'w', query: 'SELECT * FROM v' }] });
    expect(g.check('SELECT * FROM v')[0]).toMatchObject({ use: expect.stringContaining('defined through itself') });
  });

  it('without relations, an unqualified personal column name in any unknown relation counts (the conservative choice)', () => {
    const g = new SensitiveColumnGuard({ columns: ['customers.cpf'] });
    expect(g.check('SELECT md5(cpf) FROM customers')[0]?.column).toBe('customers.cpf');
    expect(g.check('SELECT md5(cpf) FROM clientes_antigos')[0]?.column).toMatch(/^clientes_antigos\.cpf \(unknown relation/);
    expect(g.check('SELECT md5(nome) FROM clientes_antigos')).toEqual([]);
    // Column aliases over a table whose column order is unknown cannot be followed.
    expect(g.check('SELECT md5(a) FROM customers AS c(a, b)')[0]?.use).toMatch(/column aliases over customers/);
  });

  it('shares results between texts differing in a number, except where a number names a column', () => {
    const g = new SensitiveColumnGuard(CONFIG);
    expect(g.check('SELECT cpf, id FROM customers WHERE id = 1')).toEqual([]);
    expect(g.check('SELECT cpf, id FROM customers WHERE id = 2')).toEqual([]);
    expect(g.check('SELECT id, cpf FROM customers ORDER BY 1')).toEqual([]);
    expect(g.check('SELECT id, cpf FROM customers ORDER BY 2')[0]).toMatchObject({ column: CPF, use: 'ordering', path: 'ORDER BY item 1' });
    expect(g.check('SELECT id FROM customers GROUP BY 1, 1')).toEqual([]);
    expect(g.check('SELECT cpf FROM customers GROUP BY 1, 1')[0]).toMatchObject({ column: CPF, use: 'grouping' });
    expect(g.check('SELECT id, cpf FROM customers GROUP BY ROLLUP (1)')).toEqual([]);
    expect(g.check('SELECT id, cpf FROM customers GROUP BY ROLLUP (2)')[0]).toMatchObject({ column: CPF, use: 'grouping' });
  });

  it('refuses expressions nested deeper than it follows, naming the bound', () => {
    const deep = `SELECT ${'1 + '.repeat(1000)}1 FROM customers`;
    expect(() => guard.check(deep)).toThrow(/statement 1 has expressions nested more than 400 levels deep.*flatten it, or split it/);
  });

  // Statements whose checking needs the same columns read again and again (each CTE's * holds every
  // earlier CTE's columns) are refused past the work budget instead of holding the sidecar's event
  // loop; chains of joins are linear (sql-long-forms.test.ts) and no longer reach it.
  it('refuses CTEs each joining the previous one as too large to check (fail closed), naming the budget', () => {
    const text = `WITH ${Array.from({ length: 3000 }, (_, i) => `c${i} AS (SELECT * FROM ${i === 0 ? 'orders' : `c${i - 1}, orders o`})`).join(', ')} SELECT 1 FROM c2999`;
    expect(() => guard.check(text)).toThrow(/statement 1 needs more than 1,000,000 steps for the sensitive-column guard to check.*split it into smaller statements/);
  });

  it('refuses recursive CTEs nested so that following them multiplies the work as too large to check', () => {
    let q = 'SELECT 1, id, nome, status FROM orders, customers';
    for (let i = 0; i < 12; i++) q = `WITH RECURSIVE r${i}(a, b, c, d) AS (SELECT 1, id, nome, status FROM orders, customers UNION ALL SELECT a + 1, b, c, d FROM r${i}, (${q}) x${i} WHERE a < 2) SELECT * FROM r${i}`;
    expect(() => guard.check(q)).toThrow(/needs more than 1,000,000 steps/);
  });

  it('follows 5,000 UNION ALL branches in a loop (no stack frame per branch): checked, not refused', () => {
    const text = Array.from({ length: 5000 }, (_, i) => `SELECT ${i}, id FROM orders`).join(' UNION ALL ');
    expect(guard.check(text)).toEqual([]);
    const leaking = `${text} UNION SELECT 1, cpf FROM customers`;
    expect(guard.check(leaking)[0]).toMatchObject({ column: CPF, use: 'UNION (compares rows)', path: 'UNION' });
  });

  it('refuses subqueries nested deeper than it follows, naming the bound', () => {
    const text = `SELECT ${'(SELECT '.repeat(150)}cpf FROM customers${')'.repeat(150)}`;
    expect(() => guard.check(text)).toThrow(/queries \(subqueries, CTEs, views, joins in parentheses\) nested more than 100 levels deep/);
  });
});

// --- through the decision ----------------------------------------------------------------------

const agent: Identity = { subject: 'agent-7', groups: ['support'], kind: 'User' };

function policy(sensitiveColumns: Record<string, unknown>, protocol: 'postgres' | 'http' = 'postgres'): AccessPolicy {
  return {
    apiVersion: 'guarita.io/v1alpha1',
    kind: 'AccessPolicy',
    metadata: { name: 'p', namespace: 'ns' },
    spec: {
      podSelector: {},
      target: { name: 'db', protocol, endpoint: 'db:5432', listenPort: 15432 },
      identity: { serviceAccount: {} },
      subjects: [{ kind: 'Group', name: 'support' }],
      purposes: [{ name: 'support' }],
      rules: [
        { name: 'no-ddl', match: protocol === 'postgres' ? { sql: { statementKinds: ['ddl'] } } : { http: { methods: ['DELETE'] } }, action: 'deny' },
        { name: 'dpo', ...(protocol === 'postgres' ? { match: { sql: { traits: ['copyExport'] } } } : { match: { http: { methods: ['POST'] } } }), action: 'requireApproval', approval: { approverGroups: ['dpo'], minApprovals: 1, ttl: '15m' } },
        { name: 'rest', action: 'allow' },
      ],
      sensitiveColumns: sensitiveColumns as never,
    },
  } as unknown as AccessPolicy;
}

function sql(p: AccessPolicy, text: string) {
  return compilePolicy(p).evaluate({ identity: agent, purpose: 'support', command: { protocol: 'postgres', sql: text } });
}

describe('sensitive-column guard in decisions', () => {
  it('denies with the column, the use and where, and marks the statement', () => {
    const d = sql(policy({ columns: ['public.customers.cpf'], action: 'deny' }), 'SELECT 1; SELECT md5(cpf) FROM customers');
    expect(d).toMatchObject({ decision: 'deny', code: 'SensitiveColumnUse' });
    expect(d.rule).toBeUndefined();
    expect(d.sensitiveColumns).toEqual([{ column: 'public.customers.cpf', use: 'function argument md5()', path: 'select list item 1', statement: 2 }]);
    expect(d.reason).toContain('public.customers.cpf as function argument md5() (select list item 1)');
    expect(d.statements?.map((s) => s.verdict)).toEqual(['allow', 'deny']);
  });

  it('holds for the approvers of approvalRule', () => {
    const d = sql(policy({ columns: ['customers.cpf'], action: 'requireApproval', approvalRule: 'dpo' }), "SELECT id FROM customers WHERE cpf LIKE '1%'");
    expect(d).toMatchObject({ decision: 'requireApproval', code: 'ApprovalRequired', rule: 'dpo', approval: { approverGroups: ['dpo'], minApprovals: 1, ttlSeconds: 900 } });
    expect(d.sensitiveColumns?.[0]).toMatchObject({ column: 'customers.cpf', use: 'comparison LIKE', path: 'WHERE' });
  });

  it('lets plain returned columns through, masked by the policy as before', () => {
    const d = sql(policy({ columns: ['customers.cpf'], action: 'deny' }), 'SELECT c.cpf AS doc FROM customers c WHERE c.id = 1');
    expect(d).toMatchObject({ decision: 'allow', rule: 'rest' });
    expect(d.sensitiveColumns).toBeUndefined();
  });

  it('never weakens a rule: a denied statement stays denied by its rule', () => {
    const d = sql(policy({ columns: ['customers.cpf'], action: 'requireApproval', approvalRule: 'dpo' }), 'CREATE TABLE x AS SELECT md5(cpf) FROM customers');
    expect(d).toMatchObject({ decision: 'deny', rule: 'no-ddl' });
  });

  it('refuses configurations it cannot apply, naming the field', () => {
    expect(() => compilePolicy(policy({ columns: ['customers.cpf'], action: 'requireApproval' }))).toThrow(PolicyCompileError);
    expect(() => compilePolicy(policy({ columns: ['customers.cpf'], action: 'requireApproval' }))).toThrow(/^spec\.sensitiveColumns\.approvalRule: action requireApproval needs approvalRule/);
    expect(() => compilePolicy(policy({ columns: ['customers.cpf'], action: 'requireApproval', approvalRule: 'rest' }))).toThrow(/^spec\.sensitiveColumns\.approvalRule: "rest" is not a requireApproval rule/);
    expect(() => compilePolicy(policy({ columns: ['customers.cpf'], action: 'deny', approvalRule: 'dpo' }))).toThrow(/^spec\.sensitiveColumns\.approvalRule: applies only to action requireApproval/);
    expect(() => compilePolicy(policy({ columns: ['cpf'], action: 'deny' }))).toThrow(/^spec\.sensitiveColumns\.columns\[0\]: "cpf" is not/);
    expect(() => compilePolicy(policy({ columns: ['customers.cpf'], action: 'deny', views: [{ name: 'v', query: 'VALUES (1' }] }))).toThrow(/^spec\.sensitiveColumns\.views\[0\]\.query/);
    expect(() => compilePolicy(policy({ columns: ['customers.cpf'], action: 'deny' }, 'http'))).toThrow(/^spec\.sensitiveColumns: applies to postgres targets only/);
  });
});
