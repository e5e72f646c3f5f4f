// The flags that say how to reach the operator, and their help text: apart from operator-client.ts
// so a command parses its flags (and verify --file runs offline) without loading the HTTP client.
export const OPERATOR_OPTIONS = {
  'operator-url': { type: 'string' },
  'operator-ca': { type: 'string' },
  'operator-tls-server-name': { type: 'string' },
  'operator-service': { type: 'string' },
} as const;

export interface OperatorFlags { 'operator-url'?: string | undefined; 'operator-ca'?: string | undefined; 'operator-tls-server-name'?: string | undefined; 'operator-service'?: string | undefined }

export const PORT_FORWARD = 'kubectl -n guarita-system port-forward svc/guarita-operator 8443:8443';

/** The flags' help text, shared by every command that talks to the operator. */
export const OPERATOR_HELP = `Reaching the operator (its read API is HTTPS; your kubeconfig token is sent, RBAC decides).
By default the CLI port-forwards to the operator's Service through the apiserver as you, and reads
its CA from the ConfigMap the chart writes (<service>-ca); the flags below override that:
  --operator-service NS/NAME       or GUARITA_OPERATOR_SERVICE: the operator's Service
                                   (default guarita-system/guarita-operator)
  --operator-url URL               or GUARITA_OPERATOR_URL: connect directly instead, e.g. after
                                     ${PORT_FORWARD}
                                   use https://127.0.0.1:8443
  --operator-ca FILE               or GUARITA_OPERATOR_CA: CA of the operator's certificate (PEM), e.g.
                                     kubectl -n NAMESPACE get configmap guarita-operator-ca -o jsonpath='{.data.ca\\.crt}'
  --operator-tls-server-name NAME  or GUARITA_OPERATOR_TLS_SERVER_NAME: the name its certificate carries
                                   when you connect through a port-forward (guarita-operator.guarita-system.svc)
`;
