import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig, usage } from './config.ts';

const base = { GUARITA_NAMESPACE: 'guarita-system', GUARITA_SIDECAR_IMAGE: 'ghcr.io/guarita/guarita:0.1.0', GUARITA_WEBHOOK_CLIENT_CA_FILE: '/var/run/guarita/client-ca/ca.crt' };

describe('webhook configuration', () => {
  it('has working defaults and derives the certificate names from the Service', () => {
    const c = loadConfig([], base);
    expect(c.port).toBe(10250);
    expect(c.tls.mode).toBe('self');
    expect(c.tls.policy.dnsNames).toContain('guarita-webhook.guarita-system.svc');
    expect(c.injector.sidecar).toMatchObject({ mode: 'native', adminPort: 15090, operatorUrl: 'https://guarita-operator.guarita-system.svc:8443', startupTimeoutSeconds: 120 });
    expect(c.injector.excludedNamespaces).toEqual(['kube-system', 'kube-public', 'kube-node-lease', 'guarita-system']);
    expect(c.configurationName).toBe('guarita-webhook');
    expect(c.operatorServiceAccount).toEqual({ namespace: 'guarita-system', name: 'guarita-operator' });
  });

  it('reads the operator\'s ServiceAccount as namespace:name and refuses other shapes', () => {
    expect(loadConfig(['--operator-service-account', 'guarita:audit-guarita-operator'], base).operatorServiceAccount).toEqual({ namespace: 'guarita', name: 'audit-guarita-operator' });
    expect(loadConfig([], { ...base, GUARITA_OPERATOR_SERVICE_ACCOUNT: 'ops:guarita.operator-1' }).operatorServiceAccount).toEqual({ namespace: 'ops', name: 'guarita.operator-1' });
    for (const bad of ['guarita-operator', 'system:serviceaccount:guarita-system:guarita-operator', 'Guarita:op', 'ns:', ':op']) {
      expect(() => loadConfig([], { ...base, GUARITA_OPERATOR_SERVICE_ACCOUNT: bad })).toThrow(`GUARITA_OPERATOR_SERVICE_ACCOUNT (--operator-service-account): must be namespace:name of a ServiceAccount (e.g. guarita-system:guarita-operator), got "${bad}"`);
    }
  });

  it('lets flags override the environment', () => {
    const c = loadConfig(['--port', '8443', '--sidecar-mode', 'container', '--cert-hosts', '127.0.0.1,webhook.local'], { ...base, GUARITA_WEBHOOK_PORT: '9443' });
    expect(c.port).toBe(8443);
    expect(c.injector.sidecar.mode).toBe('container');
    expect(c.tls.policy.ips).toEqual(['127.0.0.1']);
    expect(c.tls.policy.dnsNames).toContain('webhook.local');
  });

  it('reports every problem at once, naming the variable and the flag', () => {
    let error: unknown;
    try {
      loadConfig([], { GUARITA_WEBHOOK_PORT: '70000', GUARITA_SIDECAR_MODE: 'sidecar', GUARITA_SIDECAR_RESOURCES: '{"requests":{"cpu":5}}', GUARITA_WEBHOOK_CERT_VALIDITY: '1y' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('GUARITA_NAMESPACE (--namespace): is required');
    expect(message).toContain('GUARITA_SIDECAR_IMAGE (--sidecar-image): is required');
    expect(message).toContain('GUARITA_WEBHOOK_PORT (--port): must be an integer from 0 to 65535, got "70000"');
    expect(message).toContain('GUARITA_SIDECAR_MODE (--sidecar-mode): must be one of native, container, got "sidecar"');
    expect(message).toContain('GUARITA_SIDECAR_RESOURCES (--sidecar-resources): must be JSON');
    expect(message).toContain('GUARITA_WEBHOOK_CERT_VALIDITY (--cert-validity): must be a positive duration');
  });

  it('reads sidecar resources the pod guard can compare by value, and refuses quantities it cannot read', () => {
    const spelled = { requests: { cpu: '0.05', memory: '64Mi' }, limits: { memory: '268435456', cpu: '1e0' } };
    expect(loadConfig([], { ...base, GUARITA_SIDECAR_RESOURCES: JSON.stringify(spelled) }).injector.sidecar.resources).toEqual(spelled);
    for (const bad of ['1K', '256 Mi', '64mb', '.', '1e']) {
      expect(() => loadConfig([], { ...base, GUARITA_SIDECAR_RESOURCES: JSON.stringify({ limits: { memory: bad } }) })).toThrow('GUARITA_SIDECAR_RESOURCES (--sidecar-resources): must be JSON like');
    }
  });

  it('refuses a sidecar ephemeral-storage limit that cannot hold the spool and its logs (every injected pod would be refused)', () => {
    const withLimit = (limit: string, spool?: string): Record<string, string> => ({ ...base, GUARITA_SIDECAR_RESOURCES: JSON.stringify({ limits: { memory: '256Mi', 'ephemeral-storage': limit } }), ...(spool === undefined ? {} : { GUARITA_SIDECAR_SPOOL_SIZE_LIMIT: spool }) });
    expect(loadConfig([], withLimit('320Mi', '256Mi')).injector.sidecar.resources.limits?.['ephemeral-storage']).toBe('320Mi');
    expect(loadConfig([], withLimit('0.5Gi', '256Mi')).injector.sidecar.resources.limits?.['ephemeral-storage']).toBe('0.5Gi');
    expect(() => loadConfig([], withLimit('319Mi', '256Mi'))).toThrow('GUARITA_SIDECAR_RESOURCES (--sidecar-resources): limits.ephemeral-storage "319Mi" is below the spool\'s sizeLimit 256Mi plus 64Mi for the proxy\'s logs: every injected pod would be refused; raise it to at least 320Mi');
    expect(() => loadConfig([], withLimit('1Gi'))).toThrow('limits.ephemeral-storage "1Gi" cannot hold the spool, which has no sizeLimit: set GUARITA_SIDECAR_SPOOL_SIZE_LIMIT');
  });

  it('refuses sidecar resources whose request is above its limit (the apiserver would refuse every injected pod; round 8c, finding F)', () => {
    const resources = (requests: Record<string, string>, limits: Record<string, string>): Record<string, string> => ({ ...base, GUARITA_SIDECAR_SPOOL_SIZE_LIMIT: '256Mi', GUARITA_SIDECAR_RESOURCES: JSON.stringify({ requests, limits }) });
    for (const [name, request, limit] of [['ephemeral-storage', '1Gi', '512Mi'], ['ephemeral-storage', '335544321', '320Mi'], ['ephemeral-storage', '1G', '0.5Gi'], ['memory', '512Mi', '256Mi'], ['memory', '268435457', '256Mi'], ['cpu', '2', '1500m'], ['cpu', '1001m', '1']] as const) {
      expect(() => loadConfig([], resources({ [name]: request }, { memory: '1Gi', 'ephemeral-storage': '1Gi', [name]: limit }))).toThrow(`GUARITA_SIDECAR_RESOURCES (--sidecar-resources): requests.${name} "${request}" is above limits.${name} "${limit}": the apiserver would refuse every injected pod; lower the request or raise the limit`);
    }
    // Equal in another spelling, or a request without a limit (the injector then adds one at least the request).
    expect(loadConfig([], resources({ memory: '0.25Gi', 'ephemeral-storage': '512Mi' }, { memory: '268435456' })).injector.sidecar.resources.requests).toEqual({ memory: '0.25Gi', 'ephemeral-storage': '512Mi' });
    expect(loadConfig([], resources({ cpu: '1000m' }, { cpu: '1', 'ephemeral-storage': '320Mi' })).injector.sidecar.resources.limits?.cpu).toBe('1');
  });

  it('requires the apiserver\'s client certificate by default, and an explicit choice to go without', () => {
    expect(loadConfig([], base).clientAuth).toEqual({ mode: 'certificate', caFile: '/var/run/guarita/client-ca/ca.crt', names: [] });
    const { GUARITA_WEBHOOK_CLIENT_CA_FILE: _ca, ...withoutCa } = base;
    expect(() => loadConfig([], withoutCa)).toThrow('GUARITA_WEBHOOK_CLIENT_CA_FILE (--client-ca-file): is required with GUARITA_WEBHOOK_CLIENT_AUTH=certificate (the default)');
    expect(loadConfig([], { ...withoutCa, GUARITA_WEBHOOK_CLIENT_AUTH: 'none' }).clientAuth).toEqual({ mode: 'none' });
    expect(loadConfig(['--client-names', 'kube-apiserver-admission, apiserver.example'], base).clientAuth).toMatchObject({ names: ['kube-apiserver-admission', 'apiserver.example'] });
    expect(() => loadConfig([], { ...base, GUARITA_WEBHOOK_CLIENT_AUTH: 'optional' })).toThrow('GUARITA_WEBHOOK_CLIENT_AUTH (--client-auth): must be one of certificate, none, got "optional"');
    expect(loadConfig([], { ...base, GUARITA_WEBHOOK_ALLOWED_CSI_DRIVERS: 'secrets-store.csi.k8s.io' }).allowedCsiDrivers).toEqual(['secrets-store.csi.k8s.io']);
  });

  it('reads the apiserver\'s OIDC username mappings (four-eyes) and refuses the old prefix-only setting', () => {
    const mappings = '[{"issuer":"https://idp","claim":"sub","prefix":"https://idp#"}]';
    expect(loadConfig([], { ...base, GUARITA_OIDC_USERNAME_MAPPINGS: mappings }).usernameMappings).toEqual([{ issuer: 'https://idp', claim: 'sub', prefix: 'https://idp#' }]);
    expect(() => loadConfig([], { ...base, GUARITA_WEBHOOK_USERNAME_PREFIX: 'oidc:' })).toThrow('GUARITA_WEBHOOK_USERNAME_PREFIX: replaced by GUARITA_OIDC_USERNAME_MAPPINGS');
    expect(() => loadConfig(['--oidc-username-mappings=[{"issuer":"https://idp","claim":"sub","prefix":"-"}]'], base)).toThrow('GUARITA_OIDC_USERNAME_MAPPINGS[0]: prefix "-" is how the legacy --oidc-username-prefix flag says "no prefix": write "" instead');
  });

  it('refuses a CA that does not outlive its certificates', () => {
    expect(() => loadConfig([], { ...base, GUARITA_WEBHOOK_CA_VALIDITY: '48h', GUARITA_WEBHOOK_CERT_VALIDITY: '24h' })).toThrow('must be at least 3 times');
  });

  it('rejects unknown flags and documents every setting', () => {
    expect(() => loadConfig(['--bogus', 'x'], base)).toThrow(ConfigError);
    expect(usage()).toContain('--sidecar-image');
    expect(usage()).toContain('GUARITA_WEBHOOK_TLS_MODE');
  });

  it('reads the spool emptyDir\'s sizeLimit as bytes and gives the sidecar its budget inside it', () => {
    expect(loadConfig([], base).injector.sidecar.spoolMaxBytes).toBeUndefined();
    expect(loadConfig([], { ...base, GUARITA_SIDECAR_SPOOL_SIZE_LIMIT: '256Mi' }).injector.sidecar).toMatchObject({ spoolSizeLimit: '256Mi', spoolMaxBytes: 255 * 2 ** 20 });
    expect(loadConfig(['--sidecar-spool-size-limit', '1Gi'], base).injector.sidecar.spoolMaxBytes).toBe(2 ** 30 - 2 ** 20);
    expect(loadConfig([], { ...base, GUARITA_SIDECAR_SPOOL_SIZE_LIMIT: '32Mi' }).injector.sidecar.spoolMaxBytes).toBe(31 * 2 ** 20);
    expect(loadConfig([], { ...base, GUARITA_SIDECAR_SPOOL_SIZE_LIMIT: '100M' }).injector.sidecar.spoolMaxBytes).toBe(100e6 - 2 ** 20);
  });

  it('refuses a spool sizeLimit under which kubelet would evict the pod before the spool could refuse, or one it cannot read', () => {
    for (const small of ['8Mi', '31Mi', String(32 * 2 ** 20 - 1), '33M', '0']) {
      expect(() => loadConfig([], { ...base, GUARITA_SIDECAR_SPOOL_SIZE_LIMIT: small })).toThrow(`GUARITA_SIDECAR_SPOOL_SIZE_LIMIT (--sidecar-spool-size-limit): must be at least 32Mi`);
    }
    for (const bad of ['0.5Gi', '1e9', '-64Mi', '256MiB', '256 Mi', 'lots', '9999999999999999Gi']) {
      expect(() => loadConfig([], { ...base, GUARITA_SIDECAR_SPOOL_SIZE_LIMIT: bad })).toThrow(`GUARITA_SIDECAR_SPOOL_SIZE_LIMIT (--sidecar-spool-size-limit): must be a whole number of bytes with an optional suffix`);
    }
  });
});
