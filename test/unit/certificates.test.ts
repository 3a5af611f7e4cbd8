import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { createCertificateAuthority, createSigningKeys, issueCertificate } from '../../src/pki/certificates.js';

test('issued certificates chain to their CA and carry the requested names and usages', async () => {
  const ca = await createCertificateAuthority('unit-ca');
  const leaf = await issueCertificate(ca, {
    subject: 'CN=alice, O=sre-leads',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    server: true,
    client: true,
  });
  const caCert = new X509Certificate(ca.certPem);
  const cert = new X509Certificate(leaf.certPem);
  assert.ok(caCert.ca);
  assert.ok(!cert.ca);
  assert.ok(cert.checkIssued(caCert));
  assert.ok(cert.verify(caCert.publicKey));
  assert.match(cert.subject, /CN=alice/);
  assert.match(cert.subject, /O=sre-leads/);
  assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(cert.checkHost('localhost'), 'localhost');
  assert.equal(cert.checkHost('example.com'), undefined);
  assert.deepEqual([...(cert.keyUsage ?? [])].sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  assert.ok(cert.checkPrivateKey(createPrivateKey(leaf.keyPem)));
  // another CA's certificate does not verify against this one
  const stranger = await createCertificateAuthority('other-ca');
  assert.ok(!cert.verify(new X509Certificate(stranger.certPem).publicKey));
});

test('signing keys are a matching PKCS#8 / SPKI pair', async () => {
  const keys = await createSigningKeys();
  assert.match(keys.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.match(keys.publicKeyPem, /^-----BEGIN PUBLIC KEY-----\n/);
  const signature = sign('sha256', Buffer.from('payload'), createPrivateKey(keys.privateKeyPem));
  assert.ok(verify('sha256', Buffer.from('payload'), createPublicKey(keys.publicKeyPem), signature));
  assert.ok(!verify('sha256', Buffer.from('tampered'), createPublicKey(keys.publicKeyPem), signature));
});
