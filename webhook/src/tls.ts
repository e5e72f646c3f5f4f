// Serving TLS for the webhook, in one of two modes.
//
// self: the replicas share one CA and serving certificate through a Secret. Each reconcile
// (at start, then every check interval) reads the Secret, renews what is due (conflicts between
// replicas resolved by the apiserver's optimistic concurrency: the loser re-reads and adopts the
// winner's material), makes every webhook of the configured configurations trust the Secret's CA
// bundle, and hot-reloads the server when the certificate changed. A new CA is added to the
// caBundle BEFORE any replica serves a certificate it signed, and the previous CA stays in the
// bundle until it expires, so no replica ever presents a certificate the apiserver does not trust.
//
// files: cert-manager (or anything else) writes tls.crt/tls.key into a mounted directory and
// injects the caBundle (cainjector); the webhook only watches the files and hot-reloads.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isConflict, KubeError, type KubeApi } from './kube.ts';
import { executeTlsPlan, joinPem, planTls, splitPem, type TlsMaterial, type TlsPolicy } from './tls-certs.ts';

export type { TlsMaterial, TlsPolicy } from './tls-certs.ts';

export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** What the server needs: the current certificate and key. */
export interface ServingPair { certPem: string; keyPem: string }

export interface TlsSource {
  /** Loads (creating if needed) the first certificate. */
  init(): Promise<ServingPair>;
  start(): void;
  stop(): void;
}

interface SecretJson {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string> };
  type?: string;
  data?: Record<string, string>;
}

interface WebhookConfigurationJson {
  metadata: { name: string; resourceVersion?: string };
  webhooks?: { name: string; clientConfig: { caBundle?: string } }[];
}

const KEYS = { caCertPem: 'ca.crt', caKeyPem: 'ca.key', certPem: 'tls.crt', keyPem: 'tls.key', bundlePem: 'ca-bundle.crt' } as const;
const NEXT_KEYS = { nextCaCertPem: 'ca-next.crt', nextCaKeyPem: 'ca-next.key' } as const;
/** A CA found in a caBundle but not (yet) in the Secret is kept this long: another replica may be mid-rotation. */
const IN_FLIGHT_CA_MS = 15 * 60_000;
const MAX_ATTEMPTS = 5;

export interface SelfManagedOptions {
  api: KubeApi;
  namespace: string;
  secretName: string;
  policy: TlsPolicy;
  mutatingConfigurations: readonly string[];
  validatingConfigurations: readonly string[];
  checkIntervalMs: number;
  log: Logger;
  onReload: (pair: ServingPair, material: TlsMaterial) => void;
  now?: () => Date;
}

function text(data: Record<string, string>, key: string): string | undefined {
  const v = data[key];
  return v === undefined || v === '' ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

function decode(data: Record<string, string> | undefined): TlsMaterial | undefined {
  if (data === undefined) return undefined;
  const required = Object.entries(KEYS).map(([field, key]) => [field, text(data, key)] as const);
  if (required.some(([, v]) => v === undefined)) return undefined;
  const optional = Object.entries(NEXT_KEYS).flatMap(([field, key]) => {
    const v = text(data, key);
    return v === undefined ? [] : [[field, v] as const];
  });
  return Object.fromEntries([...required, ...optional]) as unknown as TlsMaterial;
}

function encode(m: TlsMaterial): Record<string, string> {
  const all: Record<string, string> = { ...KEYS, ...NEXT_KEYS };
  return Object.fromEntries(Object.entries(all).flatMap(([field, key]) => {
    const v = m[field as keyof TlsMaterial];
    return v === undefined ? [] : [[key, Buffer.from(v).toString('base64')]];
  }));
}

function fingerprints(pem: string): string[] {
  try {
    return splitPem(pem).map((c) => c.fingerprint256);
  } catch {
    return [];
  }
}

export class SelfManagedTls implements TlsSource {
  readonly #o: SelfManagedOptions;
  #timer: NodeJS.Timeout | undefined;
  #loaded: string | undefined;
  #running: Promise<void> | undefined;
  #material: TlsMaterial | undefined;
  /** A configuration did not exist (installed after the webhook started): check again soon. */
  #missing = false;
  #stopped = false;

  constructor(options: SelfManagedOptions) {
    this.#o = options;
  }

  #now(): Date {
    return this.#o.now?.() ?? new Date();
  }

  get #path(): string {
    return `/api/v1/namespaces/${encodeURIComponent(this.#o.namespace)}/secrets/${encodeURIComponent(this.#o.secretName)}`;
  }

  async #readSecret(): Promise<SecretJson | undefined> {
    return this.#o.api.get<SecretJson>(this.#path);
  }

  async #writeSecret(existing: SecretJson | undefined, m: TlsMaterial): Promise<boolean> {
    const body: SecretJson = {
      apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
      metadata: { name: this.#o.secretName, namespace: this.#o.namespace, labels: { 'app.kubernetes.io/part-of': 'guarita', 'app.kubernetes.io/component': 'webhook' } },
      data: encode(m),
    };
    try {
      if (existing === undefined) await this.#o.api.create(`/api/v1/namespaces/${encodeURIComponent(this.#o.namespace)}/secrets`, body);
      // A Secret someone else created (the Helm chart does): keep its type (immutable) and its
      // labels and annotations (Helm's ownership metadata), replace only the data.
      else await this.#o.api.replace(this.#path, { ...existing, type: existing.type ?? body.type, data: body.data, metadata: { ...existing.metadata, labels: { ...existing.metadata.labels, ...body.metadata.labels } } });
      return true;
    } catch (err) {
      // Another replica wrote first: adopt its material on the next attempt.
      if (isConflict(err)) return false;
      throw err;
    }
  }

  /** Read, renew what is due, publish the CA bundle; returns the material in force. */
  async #converge(): Promise<TlsMaterial> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const secret = await this.#readSecret();
      const current = decode(secret?.data);
      const now = this.#now();
      const plan = planTls(current, this.#o.policy, now);
      if (plan.action === 'keep' && current !== undefined) return current;
      if (plan.action === 'keep') continue;
      const next = await executeTlsPlan(plan, current, this.#o.policy, now);
      // The apiserver must trust a new CA before anyone serves a certificate it signed.
      if (plan.action !== 'renew-serving') await this.#publishBundle(next.bundlePem, true);
      if (await this.#writeSecret(secret, next)) {
        this.#o.log.info({ secret: this.#o.secretName, action: plan.action, reason: plan.reason }, 'webhook certificate renewed');
        return next;
      }
    }
    throw new Error(`could not settle the webhook certificate Secret ${this.#o.namespace}/${this.#o.secretName} after ${MAX_ATTEMPTS} attempts (write conflicts)`);
  }

  /** The caBundle a webhook should carry: the Secret's bundle, plus CAs another replica is introducing right now. */
  #desiredBundle(bundlePem: string, currentPem: string, additive: boolean): string {
    const wanted = splitPem(bundlePem);
    const have = new Set(wanted.map((c) => c.fingerprint256));
    const now = this.#now().getTime();
    const extra = (() => {
      try {
        return splitPem(currentPem);
      } catch {
        return [];
      }
    })().filter((c) => !have.has(c.fingerprint256) && c.ca && Date.parse(c.validTo) > now && (additive || Date.parse(c.validFrom) > now - IN_FLIGHT_CA_MS));
    return joinPem([...wanted, ...extra]);
  }

  async #publishTo(kind: 'mutatingwebhookconfigurations' | 'validatingwebhookconfigurations', name: string, bundlePem: string, additive: boolean): Promise<void> {
    const path = `/apis/admissionregistration.k8s.io/v1/${kind}/${encodeURIComponent(name)}`;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const config = await this.#o.api.get<WebhookConfigurationJson>(path);
      if (config === undefined) {
        this.#o.log.warn({ kind, name }, 'webhook configuration not found: its caBundle will be set once it exists');
        this.#missing = true;
        return;
      }
      const ops = (config.webhooks ?? []).flatMap((w, i) => {
        const current = Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString('utf8');
        const desired = this.#desiredBundle(bundlePem, current, additive);
        if (fingerprints(current).join() === fingerprints(desired).join()) return [];
        return [{ op: w.clientConfig.caBundle === undefined ? 'add' : 'replace', path: `/webhooks/${i}/clientConfig/caBundle`, value: Buffer.from(desired).toString('base64') }];
      });
      if (ops.length === 0) return;
      try {
        await this.#o.api.jsonPatch(path, [{ op: 'test', path: '/metadata/resourceVersion', value: config.metadata.resourceVersion }, ...ops]);
        this.#o.log.info({ kind, name, webhooks: ops.length }, 'caBundle updated');
        return;
      } catch (err) {
        if (!(err instanceof KubeError) || ![409, 422, 500].includes(err.status)) throw err;
      }
    }
  }

  async #publishBundle(bundlePem: string, additive: boolean): Promise<void> {
    this.#missing = false;
    for (const name of this.#o.mutatingConfigurations) await this.#publishTo('mutatingwebhookconfigurations', name, bundlePem, additive);
    for (const name of this.#o.validatingConfigurations) await this.#publishTo('validatingwebhookconfigurations', name, bundlePem, additive);
  }

  #reload(m: TlsMaterial): void {
    const id = createHash('sha256').update(m.certPem).update(m.keyPem).digest('hex');
    if (id === this.#loaded) return;
    this.#loaded = id;
    this.#o.onReload({ certPem: m.certPem, keyPem: m.keyPem }, m);
  }

  /** One full pass; concurrent callers share it. */
  reconcile(): Promise<void> {
    this.#running ??= (async () => {
      try {
        const m = await this.#converge();
        this.#material = m;
        await this.#publishBundle(m.bundlePem, false);
        this.#reload(m);
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }

  /** The material of the last reconcile. */
  material(): TlsMaterial | undefined {
    return this.#material;
  }

  async init(): Promise<ServingPair> {
    let pair: ServingPair | undefined;
    const onReload = this.#o.onReload;
    this.#o.onReload = (p, m) => {
      pair = p;
      onReload(p, m);
    };
    await this.reconcile();
    this.#o.onReload = onReload;
    if (pair === undefined) throw new Error('webhook TLS: no certificate after the first reconcile');
    return pair;
  }

  #schedule(): void {
    if (this.#stopped) return;
    const delay = this.#missing ? Math.min(1000, this.#o.checkIntervalMs) : this.#o.checkIntervalMs;
    this.#timer = setTimeout(() => {
      this.reconcile()
        .catch((err: unknown) => this.#o.log.error({ err }, 'webhook certificate reconcile failed (will retry)'))
        .finally(() => this.#schedule());
    }, delay);
    this.#timer.unref();
  }

  start(): void {
    this.#stopped = false;
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}

export interface FileTlsOptions { dir: string; checkIntervalMs: number; log: Logger; onReload: (pair: ServingPair) => void }

/** cert-manager mode: tls.crt/tls.key in a mounted Secret, re-read when the kubelet updates them. */
export class FileTls implements TlsSource {
  readonly #o: FileTlsOptions;
  #timer: NodeJS.Timeout | undefined;
  #loaded = '';

  constructor(options: FileTlsOptions) {
    this.#o = options;
  }

  #read(): ServingPair {
    return { certPem: readFileSync(join(this.#o.dir, 'tls.crt'), 'utf8'), keyPem: readFileSync(join(this.#o.dir, 'tls.key'), 'utf8') };
  }

  init(): Promise<ServingPair> {
    const pair = this.#read();
    this.#loaded = pair.certPem + pair.keyPem;
    return Promise.resolve(pair);
  }

  start(): void {
    this.#timer = setInterval(() => {
      try {
        const pair = this.#read();
        if (pair.certPem + pair.keyPem === this.#loaded || splitPem(pair.certPem).length === 0) return;
        this.#loaded = pair.certPem + pair.keyPem;
        this.#o.onReload(pair);
        this.#o.log.info({ dir: this.#o.dir }, 'serving certificate reloaded from files');
      } catch (err) {
        this.#o.log.warn({ err, dir: this.#o.dir }, 'cannot read the serving certificate files (keeping the current one)');
      }
    }, this.#o.checkIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
