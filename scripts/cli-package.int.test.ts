// The npm package `guarita` as a user gets it: scripts/pack-cli.ts builds and packs it, a registry
// on loopback publishes it (a packument as registry.npmjs.org serves it, with `_hasShrinkwrap`),
// and `npm install -g guarita` puts it into an empty prefix, re2's prebuilt addon from a local
// mirror (RE2_DOWNLOAD_MIRROR), as a release download would bring it. The installed `guarita` runs
// with no checkout around it: --version, policy eval on an example policy, mask; `kubectl-guarita`
// too, and the krew launcher (plugins/kubectl-guarita) called through a symlink, as krew installs it.
//
// Installing through a registry is what makes npm honour the package's npm-shrinkwrap.json: from a
// tarball path npm resolves the dependencies' ranges against the registry instead, which needs
// their packuments (the network, or a cache that happens to hold them; CI's did not). Through the
// shrinkwrap npm needs only the dependencies' tarballs, by integrity, which the repository's own
// `npm install` left in the npm cache; any other request reaches the loopback registry and fails
// there (404), never the internet.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { runCommand, type CommandResult } from '../e2e/harness/exec.ts';

const ROOT = resolve(import.meta.dirname, '..');
const scratch = mkdtempSync(join(tmpdir(), 'guarita-cli-package-'));
const prefix = join(scratch, 'prefix');
const work = join(scratch, 'work');
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
let tarball = '';

/** The user's shell: only Node on PATH (no repository, no node_modules/.bin), in an empty directory. */
function asUser(command: string, args: string[], input?: string): Promise<CommandResult> {
  const env = { PATH: `${join(prefix, 'bin')}:${dirname(process.execPath)}:/usr/bin:/bin`, HOME: scratch };
  return runCommand(command, args, { cwd: work, env, ...(input === undefined ? {} : { input }), timeoutMs: 60_000 });
}

beforeAll(async () => {
  mkdirSync(work, { recursive: true });
  const packed = await runCommand(process.execPath, [join(ROOT, 'scripts/pack-cli.ts'), '--out', join(scratch, 'dist')], { cwd: ROOT, timeoutMs: 240_000 });
  if (packed.code !== 0) throw new Error(`pack-cli failed: ${packed.stderr}`);
  tarball = packed.stdout.trim();
  // re2's install script fetches <mirror>/<platform>-<arch>-<abi>: serve it the addon built here.
  const mirror = join(scratch, 're2-mirror');
  mkdirSync(mirror);
  copyFileSync(join(ROOT, 'node_modules/re2/build/Release/re2.node'), join(mirror, `${process.platform}-${process.arch}-${process.versions.modules}`));
  const registry = await publish(tarball);
  try {
    const env = { ...process.env, RE2_DOWNLOAD_MIRROR: mirror, RE2_DOWNLOAD_SKIP_PATH: '1', RE2_DOWNLOAD_SKIP_VER: '1',
      // Every request to a registry goes to the loopback one, whatever host the shrinkwrap names.
      npm_config_registry: registry.url, npm_config_replace_registry_host: 'always' };
    const installed = await runCommand('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', `guarita@${version}`], { cwd: work, env, timeoutMs: 240_000 });
    if (installed.code !== 0) throw new Error(`npm install -g guarita@${version} from the loopback registry failed: ${installed.stderr}\nrequests the registry could not answer: ${registry.missed.join(', ') || 'none'}`);
  } finally {
    await new Promise((done) => registry.server.close(done));
  }
}, 480_000);

/**
 * A registry on loopback that publishes the packed tarball as `guarita`: its packument (the
 * manifest, `_hasShrinkwrap`, dist.tarball and integrity) and the tarball. Everything else is a
 * 404, listed in `missed` so a failed install says what npm looked for.
 */
async function publish(tgz: string): Promise<{ server: Server; url: string; missed: string[] }> {
  const bytes = readFileSync(tgz);
  const integrity = `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
  const manifest = JSON.parse((await runCommand('tar', ['-xzOf', tgz, 'package/package.json'])).stdout) as Record<string, unknown>;
  const missed: string[] = [];
  const server = createServer((req, res) => {
    const base = `http://${req.headers.host ?? ''}`;
    if (req.url === '/guarita') {
      const published = { ...manifest, _hasShrinkwrap: true, dist: { tarball: `${base}/guarita/-/guarita-${version}.tgz`, integrity } };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name: 'guarita', 'dist-tags': { latest: version }, versions: { [version]: published } }));
    } else if (req.url === `/guarita/-/guarita-${version}.tgz`) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(bytes);
    } else {
      missed.push(`${req.method ?? ''} ${req.url ?? ''}`);
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
    }
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, missed };
}

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the npm package guarita', () => {
  it('holds the compiled CLI, LICENSE, README and a shrinkwrap of the lockfile\'s versions, no TypeScript and no tests', async () => {
    const listing = await runCommand('tar', ['-tzf', tarball]);
    const files = listing.stdout.split('\n').filter(Boolean);
    expect(files).toEqual(expect.arrayContaining(['package/package.json', 'package/LICENSE', 'package/README.md', 'package/npm-shrinkwrap.json', 'package/cli/src/main.js', 'package/cli/src/commands/check.js']));
    expect(files.filter((f) => f.endsWith('.ts') || /\.test\.js$/.test(f) || f.includes('/test/'))).toEqual([]);
    const pkg = JSON.parse(readFileSync(join(prefix, 'lib/node_modules/guarita/package.json'), 'utf8')) as { name: string; version: string; license: string; private?: boolean; dependencies: Record<string, string> };
    expect(pkg).toMatchObject({ name: 'guarita', version, license: 'Apache-2.0' });
    expect(pkg.private).toBeUndefined();
    // Only what the CLI imports: no server framework, no metrics, no development tool.
    expect(Object.keys(pkg.dependencies)).toEqual(expect.arrayContaining(['@kubernetes/client-node', 'libpg-query', 're2', 'yaml']));
    for (const absent of ['fastify', 'pino', 'prom-client', 'jest', 'typescript']) expect(pkg.dependencies[absent]).toBeUndefined();
    const wrap = JSON.parse(readFileSync(join(prefix, 'lib/node_modules/guarita/npm-shrinkwrap.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
    expect(wrap.packages['node_modules/re2']?.version).toBe(lock.packages['node_modules/re2']?.version);
    expect(wrap.packages['node_modules/fastify']).toBeUndefined();
  });

  it('guarita --version and version --client, as guarita and as kubectl-guarita; kubectl_complete-guarita completes', async () => {
    expect(await asUser('guarita', ['--version'])).toMatchObject({ code: 0, stdout: `guarita ${version}\n` });
    expect(await asUser('kubectl-guarita', ['version', '--client'])).toMatchObject({ code: 0, stdout: `Client: guarita ${version}\n` });
    // kubectl 1.26+ completes `kubectl guarita ch<TAB>` by running kubectl_complete-guarita.
    expect(await asUser('kubectl_complete-guarita', ['ch'])).toMatchObject({ code: 0, stdout: 'check\n:4\n' });
  });

  it('guarita policy eval decides on an example policy, offline', async () => {
    copyFileSync(join(ROOT, 'examples/lgpd-orders/accesspolicy.yaml'), join(work, 'policy.yaml'));
    const subject = ['--subject', 'system:serviceaccount:lgpd-orders:support-agent', '--purpose', 'customer-support'];
    const allowed = await asUser('guarita', ['policy', 'eval', '--policy', 'policy.yaml', '--sql', 'SELECT id, cpf FROM customers WHERE id = 7', ...subject]);
    expect(allowed.stderr).toBe('');
    expect(JSON.parse(allowed.stdout)).toMatchObject({ decision: 'allow' });
    const refused = await asUser('guarita', ['policy', 'eval', '--policy', 'policy.yaml', '--sql', 'DROP TABLE customers', ...subject, '--expect', 'allow']);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ decision: 'deny' });
  });

  it('guarita mask masks a CPF', async () => {
    const r = await asUser('guarita', ['mask'], 'cliente 123.456.789-09\n');
    expect(r).toMatchObject({ code: 0 });
    expect(r.stdout).not.toContain('123.456.789');
  });

  it('the krew launcher runs the installed CLI through a symlink, as krew links it', async () => {
    const store = join(scratch, 'krew-store');
    mkdirSync(store);
    // The archive's layout: the launcher beside node_modules/guarita.
    symlinkSync(join(prefix, 'lib/node_modules'), join(store, 'node_modules'));
    copyFileSync(join(ROOT, 'plugins/kubectl-guarita'), join(store, 'kubectl-guarita'));
    const bin = join(scratch, 'krew-bin');
    mkdirSync(bin);
    symlinkSync(join(store, 'kubectl-guarita'), join(bin, 'kubectl-guarita'));
    expect(await asUser(process.execPath, [join(bin, 'kubectl-guarita'), '--version'])).toMatchObject({ code: 0, stdout: `guarita ${version}\n` });
  });
});
