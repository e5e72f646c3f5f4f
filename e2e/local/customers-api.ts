// The example's internal customers API: a real HTTP service over the real orders database, so the
// HTTP path of the scenario has genuine personal data to mask.
import Fastify, { type FastifyInstance } from 'fastify';
import pg from 'pg';
import type { ConnectionParams } from '../harness/psql.ts';

export interface CustomersApi { url: string; close(): Promise<void> }

export async function startCustomersApi(db: ConnectionParams): Promise<CustomersApi> {
  const pool = new pg.Pool({ ...db, max: 4 });
  const app: FastifyInstance = Fastify({ logger: false });
  app.get('/customers', async () => {
    const { rows } = await pool.query('SELECT id, nome, cpf, email, telefone FROM customers ORDER BY id LIMIT 20');
    return { items: rows };
  });
  app.get<{ Params: { id: string } }>('/customers/:id', async (req, reply) => {
    const id = Number(req.params.id);
    const customer = await pool.query<Record<string, unknown>>('SELECT id, nome, cpf, cnpj, email, telefone, dt_nasc, notes FROM customers WHERE id = $1', [id]);
    if (customer.rows.length === 0) return reply.code(404).send({ error: 'not found' });
    const orders = await pool.query<Record<string, unknown>>('SELECT id, status, total_cents FROM orders WHERE customer_id = $1 ORDER BY id', [id]);
    return { customer: customer.rows[0], orders: orders.rows };
  });
  app.get('/customers/export', async () => {
    const { rows } = await pool.query('SELECT * FROM customers ORDER BY id');
    return { items: rows };
  });
  app.delete<{ Params: { id: string } }>('/customers/:id', async (_req, reply) => reply.code(204).send());
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url, close: async () => { await app.close(); await pool.end(); } };
}
