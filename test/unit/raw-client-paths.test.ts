/**
 * The raw client's last check on a path: it is sent as written, or not at all. The operator puts names
 * from users' objects (a ServiceAccount subject's namespace) into paths; a `#` would drop the label
 * selector behind it and a `..` segment would move the request to another collection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sentAsWritten } from '../../src/kube/raw-client.js';

test('a path is sent as written: with its query, and under a server that has a path of its own', () => {
  assert.equal(sentAsWritten('https://10.0.0.1:6443', '/api/v1/namespaces/ci/secrets?labelSelector=kubegate.dev%2Fgrant%3Dabc&limit=500').href, 'https://10.0.0.1:6443/api/v1/namespaces/ci/secrets?labelSelector=kubegate.dev%2Fgrant%3Dabc&limit=500');
  assert.equal(sentAsWritten('https://rancher.example/k8s/clusters/c-1/', '/api/v1/namespaces/ci/secrets/s').pathname, '/k8s/clusters/c-1/api/v1/namespaces/ci/secrets/s');
  assert.equal(sentAsWritten('https://h', `/api/v1/namespaces/${encodeURIComponent('a/b#c?d')}/secrets`).pathname, '/api/v1/namespaces/a%2Fb%23c%3Fd/secrets', 'an encoded name stays one segment');
});

test('a path a URL would change is refused: a fragment, a dot segment, a second query', () => {
  for (const path of [
    '/api/v1/namespaces/kube-system/secrets#/secrets?labelSelector=kubegate.dev%2Fgrant%3Dabc',
    '/api/v1/namespaces/../secrets',
    '/api/v1/namespaces/ci/./secrets',
    '/api/v1/namespaces/%2e%2e/secrets',
    '/api/v1/namespaces/ci\\..\\secrets',
  ]) {
    assert.throws(() => sentAsWritten('https://10.0.0.1:6443', path), /not be sent as written/, path);
  }
});
