/**
 * The bypass corpus: every trick an attacker holding one ordinary grant has tried against the gateway,
 * as data. Each line sends one raw request through the real gateway to the real API server and says
 * what must come back; `gateway-bypass.test.ts` runs them all. A new trick is one more line.
 *
 * Expectations:
 *  - `refused`: a 4xx answer, and nothing of the Secret in it;
 *  - `masked`: whatever the answer (served or refused), the Secret's value appears in clear text (or
 *    base64) neither in the answer nor in anything recorded, and the request itself was recorded.
 */
export interface TrickContext {
  /** The grant's namespace of work, holding the Secret `secret`. */
  target: string;
  secret: string;
}

export interface Trick {
  name: string;
  /** The DESIGN.md security invariant it attacks. */
  invariant: number;
  method?: string;
  path: (c: TrickContext) => string;
  headers?: Record<string, string>;
  expect: 'refused' | 'masked';
}

const secretPath = (c: TrickContext) => `/api/v1/namespaces/${c.target}/secrets/${c.secret}`;
const upgrade = (protocol: string, connection = 'Upgrade') => ({ connection, upgrade: protocol });

export const tricks: Trick[] = [
  // an Upgrade header on an ordinary request must not take the stream path, where nothing is masked
  { name: 'Upgrade: x on a GET of a Secret', invariant: 9, path: secretPath, headers: upgrade('x'), expect: 'masked' },
  { name: 'Upgrade: websocket on a GET of a Secret', invariant: 9, path: secretPath, headers: upgrade('websocket'), expect: 'masked' },
  { name: 'Upgrade: SPDY/3.1 on a GET of a Secret', invariant: 9, path: secretPath, headers: upgrade('SPDY/3.1'), expect: 'masked' },
  { name: 'Connection: keep-alive, Upgrade on a GET of a Secret', invariant: 9, path: secretPath, headers: upgrade('h2c', 'keep-alive, Upgrade'), expect: 'masked' },
  { name: 'Upgrade on a LIST of Secrets', invariant: 9, path: (c) => `/api/v1/namespaces/${c.target}/secrets`, headers: upgrade('x'), expect: 'masked' },
  { name: 'Upgrade on a watch of Secrets', invariant: 9, path: (c) => `/api/v1/namespaces/${c.target}/secrets?watch=1&timeoutSeconds=1`, headers: upgrade('x'), expect: 'masked' },
  { name: 'Upgrade on a Table of Secrets', invariant: 9, path: (c) => `/api/v1/namespaces/${c.target}/secrets?includeObject=Object`, headers: { ...upgrade('x'), accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' }, expect: 'masked' },
  // a compressed answer would pass the maskers unread (the API server gzips responses above 128 KiB; the Secret is larger)
  { name: 'Accept-Encoding: gzip on a GET of a large Secret', invariant: 9, path: secretPath, headers: { 'accept-encoding': 'gzip' }, expect: 'masked' },
  { name: 'Accept-Encoding: gzip on a LIST of Secrets', invariant: 9, path: (c) => `/api/v1/namespaces/${c.target}/secrets`, headers: { 'accept-encoding': 'gzip, deflate' }, expect: 'masked' },
  { name: 'Accept-Encoding: gzip on a Table of Secrets', invariant: 9, path: (c) => `/api/v1/namespaces/${c.target}/secrets?includeObject=Object`, headers: { 'accept-encoding': 'gzip', accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' }, expect: 'masked' },
  // paths the API server could read differently from the gateway
  { name: 'an encoded slash turns a Secret GET into another path', invariant: 10, path: (c) => `/api/v1/namespaces/${c.target}/secrets%2F${c.secret}`, expect: 'refused' },
  { name: 'a dot segment climbs out of the namespace', invariant: 10, path: (c) => `/api/v1/namespaces/other/../${c.target}/secrets/${c.secret}`, expect: 'refused' },
  { name: 'an encoded dot segment', invariant: 10, path: (c) => `/api/v1/namespaces/${c.target}/%2E%2E/secrets/${c.secret}`, expect: 'refused' },
  { name: 'an empty segment', invariant: 10, path: (c) => `/api/v1/namespaces/${c.target}//secrets/${c.secret}`, expect: 'refused' },
  { name: 'a double-encoded slash', invariant: 10, path: (c) => `/api/v1/namespaces/${c.target}/secrets%252F${c.secret}`, expect: 'refused' },
  { name: 'a semicolon in the query', invariant: 10, path: (c) => `/api/v1/namespaces/${c.target}/secrets?watch=1;x=y`, expect: 'refused' },
  // identity headers from the client
  { name: 'Impersonate-User: system:admin to read kube-system Secrets', invariant: 3, path: () => '/api/v1/namespaces/kube-system/secrets', headers: { 'impersonate-user': 'system:admin' }, expect: 'refused' },
  { name: 'Impersonate-Group: system:masters to read kube-system Secrets', invariant: 3, path: () => '/api/v1/namespaces/kube-system/secrets', headers: { 'impersonate-group': 'system:masters' }, expect: 'refused' },
];
