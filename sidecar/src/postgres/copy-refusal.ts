// When the listener refuses a COPY ... TO STDOUT itself, whatever the policy allowed: its data is
// masked field by field under the columns the COPY writes, so a COPY whose output the masker
// cannot read exactly as PostgreSQL writes it, or whose columns it cannot know as they are when it
// runs, is refused (fail closed) rather than masked by content alone.
//
// Before it runs (copyStatementRefusal, from the statement's parse):
// - an ENCODING other than UTF8 (or SQL_ASCII, no conversion): the rows would come in SJIS, BIG5,
//   ... where a character's second byte can be `\` or the delimiter;
// - a DELIMITER, QUOTE, ESCAPE, NULL, DEFAULT or FORMAT argument that is not a string, number, word
//   or `*` (a type name, a list): the sidecar would not read it as PostgreSQL's defGetString does;
// - a COPY after other statements of the same simple Query: its columns are described before the
//   Query runs, and the statements before it can change them (ROLLBACK of an aborted transaction
//   that made the description fail, DDL) or the output encoding (a function calling set_config);
// - one whose columns need a description the sidecar cannot ask for: through the extended protocol,
//   or in a simple Query sent while an extended batch is unsynced (the description's own Sync
//   would end the client's batch).
// When it starts (copyOutRefusal, at CopyOutResponse): no plan or no described columns (the
// description failed), a column count other than the server's (a table's generated columns, which
// COPY leaves out and SELECT * does not), or a NULL string a value could be written as that the
// masking would change.
import type { MaskSession } from '../enforcement.ts';
import { decodeTextField, CopyRowRefused } from './copy-format.ts';
import type { Denial } from './pipeline-state.ts';
import { isUtf8Output, type CopyPlan, type StatementFacts } from './statements.ts';

const REFUSED = 'COPY ... TO STDOUT is refused by the Guarita sidecar';

function encodingRefusal(plan: CopyPlan): Denial | undefined {
  if (plan.encoding === undefined || isUtf8Output(plan.encoding)) return undefined;
  return {
    code: '0A000',
    message: `${REFUSED} with ENCODING '${plan.encoding}': COPY data is masked as UTF8 only (in encodings such as SJIS or BIG5 a character's second byte can read as \\ or the delimiter)`,
    hint: 'drop the ENCODING option (or write ENCODING \'UTF8\') and convert the output on the client, e.g. iconv -f UTF-8 -t SJIS',
  };
}

function optionRefusal(plan: CopyPlan): Denial | undefined {
  if (plan.unreadOption === undefined) return undefined;
  return {
    code: '0A000',
    message: `${REFUSED} with a ${plan.unreadOption.toUpperCase()} argument the sidecar does not read as PostgreSQL does (a type name or a list): the rows would be split otherwise than the server writes them`,
    hint: `write the ${plan.unreadOption.toUpperCase()} argument as a quoted string, e.g. DELIMITER ';'`,
  };
}

function positionRefusal(plan: CopyPlan): Denial | undefined {
  if (plan.statement === 0) return undefined;
  return {
    code: '0A000',
    message: `${REFUSED} after other statements of the same query (it is statement ${plan.statement + 1}): its columns are described before the query runs, and the statements before it could change them`,
    hint: 'send the statements before the COPY as a query of their own (psql\'s \\copy sends the COPY alone)',
  };
}

function describeRefusal(plan: CopyPlan, context: { extended: boolean; unsynced: boolean }): Denial | undefined {
  if (plan.columns !== undefined || plan.describeSql === undefined) return undefined;
  if (context.extended) {
    return {
      code: '0A000',
      message: `${REFUSED} through the extended protocol without a column list: the sidecar describes a COPY's columns (to mask them by name) only for a simple query`,
      hint: 'list the columns (COPY t (a, b) TO STDOUT, or COPY (SELECT a, b FROM t) TO STDOUT as a simple query) or send it as a simple query',
    };
  }
  if (!context.unsynced) return undefined;
  return {
    code: '0A000',
    message: `${REFUSED} inside an extended-protocol batch not yet synced: the sidecar describes the COPY's columns (to mask them by name) in a batch of its own, which would end yours`,
    hint: 'send Sync before the COPY, or list its columns (COPY t (a, b) TO STDOUT)',
  };
}

/** Why the listener refuses a statement's COPY ... TO STDOUT before it runs; undefined when it does not. */
export function copyStatementRefusal(facts: StatementFacts, context: { extended: boolean; unsynced: boolean }): Denial | undefined {
  for (const plan of facts.copyOut) {
    const refusal = encodingRefusal(plan) ?? optionRefusal(plan) ?? positionRefusal(plan) ?? describeRefusal(plan, context);
    if (refusal !== undefined) return refusal;
  }
  return undefined;
}

/** The value a text-format NULL string is also the text of, or undefined when no value is written that way (`\N`). */
function valueWrittenAs(plan: CopyPlan): string | undefined {
  try {
    return decodeTextField(plan.nullString, plan.delimiter);
  } catch (err) {
    if (err instanceof CopyRowRefused) return undefined;
    throw err;
  }
}

/**
 * A text-format NULL string a value is written as too (`NULL ''`, `NULL 'x'`: PostgreSQL writes
 * the value x as x) cannot tell a NULL from that value; a field with it is passed as NULL, so it
 * must be a string the masking leaves alone in every column, or `NULL '<a guessed CPF>'` would
 * pass the matching value unmasked. (In CSV a value equal to the NULL string is always quoted.)
 */
function nullStringRefusal(plan: CopyPlan, columns: readonly string[], mask: MaskSession): string | undefined {
  if (plan.format === 'csv') return undefined;
  const value = valueWrittenAs(plan);
  if (value === undefined) return undefined;
  const check = mask.removingSession();
  const masked = columns.find((c) => check.maskCell(c, value) !== value);
  if (masked === undefined) return undefined;
  return `${REFUSED} with this NULL string: a value of column "${masked}" written the same way would pass as NULL unmasked; use the default NULL string (\\N) or one the masking does not change`;
}

/** Delimiter, quote and escape are single one-byte characters (PostgreSQL refuses others before it writes anything). */
function charactersRefusal(plan: CopyPlan): string | undefined {
  const bad = [plan.delimiter, plan.quote, plan.escape].find((c) => c.length !== 1 || c.charCodeAt(0) > 0x7f);
  return bad === undefined ? undefined : `${REFUSED}: its delimiter, quote and escape must be single one-byte characters`;
}

/**
 * Why a COPY ... TO STDOUT the server just started (CopyOutResponse with `columnCount` columns)
 * cannot be masked; undefined when it can. `plan` is the statement's, with its columns as
 * listed or described; undefined when the sidecar saw no such COPY in the statement (a function's).
 */
export function copyOutRefusal(plan: CopyPlan | undefined, columnCount: number, mask: MaskSession): string | undefined {
  if (plan === undefined) return `the server started a COPY ... TO STDOUT the Guarita sidecar did not see in the statement: its columns are unknown, so it cannot be masked by column name`;
  const columns = plan.columns;
  if (columns === undefined) {
    return `${REFUSED}: its columns could not be described before it ran (the description failed, e.g. in an aborted transaction); run it again on its own, or list its columns`;
  }
  if (columns.length !== columnCount) {
    return `${REFUSED}: it writes ${columnCount} columns and ${columns.length} were described (${columns.join(', ')}); a table COPY leaves out generated columns: list the columns to export, COPY t (a, b) TO STDOUT`;
  }
  return encodingRefusal(plan)?.message ?? charactersRefusal(plan) ?? nullStringRefusal(plan, columns, mask);
}
