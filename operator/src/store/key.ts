// The operator's store-chain signing key (Ed25519). Kept by default in a Secret in the operator's
// namespace, so someone who can alter the store's volume cannot also re-sign it; or in a file
// (--store-key-file) for setups without Secret access. Created on first use; rotating it is
// deleting the Secret (the public halves of old keys stay on the volume under keys/).
import { readFile } from 'node:fs/promises';
import type { JsonWebKey } from 'node:crypto';
import { exportPrivateJwk, generateSigningKey, importSigningKey, type SigningKey } from '../../../core/recording/index.ts';
import { isAlreadyExists, isNotFound, paths, type KubeApi } from '../kube/client.ts';
import { writeFileDurable } from './fs-util.ts';

const SECRET_KEY = 'store-key.jwk';

interface Secret { data?: Record<string, string> }

function fromJson(text: string, where: string): SigningKey {
  try {
    return importSigningKey(JSON.parse(text) as JsonWebKey);
  } catch (err) {
    throw new Error(`${where}: not an Ed25519 private JWK (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
}

export async function loadKeyFile(file: string): Promise<SigningKey> {
  try {
    return fromJson(await readFile(file, 'utf8'), file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = generateSigningKey();
  await writeFileDurable(file, `${JSON.stringify(exportPrivateJwk(key))}\n`, 0o600);
  return key;
}

async function readSecret(api: KubeApi, namespace: string, name: string): Promise<SigningKey | undefined> {
  try {
    const s = await api.get<Secret>(paths.secret(namespace, name));
    const data = s.data?.[SECRET_KEY];
    if (data === undefined) throw new Error(`Secret ${namespace}/${name} has no key ${SECRET_KEY}`);
    return fromJson(Buffer.from(data, 'base64').toString('utf8'), `Secret ${namespace}/${name}`);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function loadKeySecret(api: KubeApi, namespace: string, name: string): Promise<SigningKey> {
  const existing = await readSecret(api, namespace, name);
  if (existing !== undefined) return existing;
  const key = generateSigningKey();
  try {
    await api.create(paths.secrets(namespace), {
      apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
      metadata: { name, namespace, labels: { 'app.kubernetes.io/part-of': 'guarita', 'app.kubernetes.io/component': 'operator' } },
      data: { [SECRET_KEY]: Buffer.from(JSON.stringify(exportPrivateJwk(key))).toString('base64') },
    });
    return key;
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    const raced = await readSecret(api, namespace, name);
    if (raced === undefined) throw err;
    return raced;
  }
}
