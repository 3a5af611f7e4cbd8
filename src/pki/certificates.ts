/**
 * X.509 issuance for kubegate's own TLS: the sandbox's cluster CA and component certificates now, the
 * gateway's serving certificates later. ECDSA P-256 throughout: fast to generate, accepted by Go's TLS
 * stack (kube-apiserver, etcd clients, kwok) and by Node.
 */
// @peculiar/x509 resolves its ASN.1 serializers through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import { webcrypto, randomBytes, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A certificate with its private key, both PEM encoded. */
export interface KeyPair {
  certPem: string;
  keyPem: string;
}

/** A CA able to issue further certificates. */
export interface CertificateAuthority extends KeyPair {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}

export interface IssueOptions {
  /** Distinguished name, e.g. `CN=system:kube-scheduler` or `CN=alice, O=sre-leads`. */
  subject: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  server?: boolean;
  client?: boolean;
  validDays?: number;
}

const day = 24 * 60 * 60 * 1000;

function serialNumber(): string {
  // Positive 16-byte serial: clear the top bit so DER does not read it as negative.
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
}

/** PKCS#8 PEM of a private key. */
export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return pem('PRIVATE KEY', der);
}

/** SPKI PEM of a public key. */
export async function publicKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('spki', key));
  return pem('PUBLIC KEY', der);
}

function pem(label: string, der: Buffer): string {
  const body = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

export async function createCertificateAuthority(commonName: string, validDays = 3650): Promise<CertificateAuthority> {
  const keys = await generateKeys();
  const notBefore = new Date(Date.now() - 60_000);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=${commonName}`,
    notBefore,
    notAfter: new Date(notBefore.getTime() + validDays * day),
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys, certPem: cert.toString('pem') + '\n', keyPem: await privateKeyPem(keys.privateKey) };
}

/** Issues a leaf certificate signed by `ca`. */
export async function issueCertificate(ca: CertificateAuthority, options: IssueOptions): Promise<KeyPair> {
  const keys = await generateKeys();
  const notBefore = new Date(Date.now() - 60_000);
  const usages: string[] = [];
  if (options.server) usages.push(x509.ExtendedKeyUsage.serverAuth);
  if (options.client) usages.push(x509.ExtendedKeyUsage.clientAuth);
  const names: x509.JsonGeneralName[] = [
    ...(options.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(options.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension(usages, false),
    await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: options.subject,
    issuer: ca.cert.subject,
    notBefore,
    notAfter: new Date(notBefore.getTime() + (options.validDays ?? 365) * day),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: algorithm,
    extensions,
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await privateKeyPem(keys.privateKey) };
}

/** A bare signing key pair (service-account token keys, OIDC issuer keys). */
export async function createSigningKeys(): Promise<{ privateKeyPem: string; publicKeyPem: string }> {
  const keys = await generateKeys();
  return { privateKeyPem: await privateKeyPem(keys.privateKey), publicKeyPem: await publicKeyPem(keys.publicKey) };
}

function pemBody(pemText: string): Buffer {
  return Buffer.from(pemText.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** A CA from its PEM certificate and PKCS#8 key (as stored in a Secret), able to issue again. */
export async function loadCertificateAuthority(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  const cert = new x509.X509Certificate(certPem);
  const privateKey = await webcrypto.subtle.importKey('pkcs8', pemBody(keyPem), algorithm, true, ['sign']);
  const publicKey = await cert.publicKey.export(algorithm, ['verify']);
  return { cert, keys: { privateKey, publicKey }, certPem, keyPem };
}

/** Days until a PEM certificate expires (negative once expired). */
export function daysValid(certPem: string, now = new Date()): number {
  // Node's own parser: every reconcile of a policy checks two certificates, which asn1js took milliseconds for
  return (new X509Certificate(certPem).validToDate.getTime() - now.getTime()) / day;
}
