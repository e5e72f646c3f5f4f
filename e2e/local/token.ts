// Prints an access token from the local IdP for one of its clients: `node e2e/local/token.ts support-agent`.
import { agentToken } from './agent.ts';
import type { IdpClientId } from '../harness/state.ts';

const client = (process.argv[2] ?? 'support-agent') as IdpClientId;
process.stdout.write(`${await agentToken(client)}\n`);
