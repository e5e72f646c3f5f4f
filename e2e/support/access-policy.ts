// A complete AccessPolicy to start from in integration tests and benchmarks; `over` replaces
// spec fields.

export function accessPolicy(namespace: string, name: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name, namespace },
    spec: {
      podSelector: { matchLabels: { app: 'support-agent' } },
      target: { name, protocol: 'postgres', endpoint: 'orders-db.example.svc:5432', listenPort: 15432 },
      identity: { oidc: { issuer: 'https://idp.example.com', audiences: ['guarita'] } },
      subjects: [{ kind: 'Group', name: 'support' }],
      purposes: [{ name: 'customer-support' }],
      rules: [
        { name: 'exports-need-dpo', match: { sql: { traits: ['copyExport'] } }, action: 'requireApproval', approval: { approverGroups: ['dpo'], minApprovals: 2, ttl: '15m' } },
        { name: 'allow-the-rest', action: 'allow' },
      ],
      ...over,
    },
  };
}
