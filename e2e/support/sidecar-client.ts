// A fake sidecar for integration tests of the operator's ingest API (operator and CLI tests): a
// real signed chain (store-testkit.ts) sent over HTTPS with an operator-audience token bound to
// an injected Pod, as a genuine proxy holds it.
import type { SessionRecord } from '../../operator/src/store/types.ts';
import { injectedProxyToken } from './bound-pods.ts';
import { call, type HttpResult } from './operator-api.ts';
import { fakeSidecar, type FakeSidecar } from './store-testkit.ts';

/** A fake sidecar: real signed chain, SA token bound to the operator's audience and to an injected Pod object. */
export interface SidecarClient extends FakeSidecar {
  token: string;
  register(base: string): Promise<HttpResult>;
  /**
   * Posts a batch as the shipper does: the records and the chain's signed checkpoint at the last
   * one (by default the genuine one; pass a note to send another, or null to send none).
   */
  send(base: string, records: SessionRecord[], checkpoint?: string | null): Promise<HttpResult>;
  position(base: string): Promise<HttpResult>;
}

export async function sidecarClient(namespace: string, sa = 'agent', pod?: string): Promise<SidecarClient> {
  const sc = fakeSidecar(namespace, pod);
  const { token } = await injectedProxyToken(namespace, sa, sc.pod);
  const path = `/v1/chains/${encodeURIComponent(sc.chainId)}`;
  return {
    ...sc, token,
    register: (base) => call(base, 'POST', '/v1/chains', token, { chainId: sc.chainId, namespace, pod: sc.pod, publicJwk: sc.key.publicJwk }),
    send: (base, records, checkpoint) => {
      const last = records[records.length - 1];
      const note = checkpoint === undefined ? (last === undefined ? undefined : sc.checkpointAt(last.seq)) : (checkpoint ?? undefined);
      return call(base, 'POST', `${path}/records`, token, note === undefined ? { records } : { records, checkpoint: note });
    },
    position: (base) => call(base, 'GET', path, token),
  };
}
