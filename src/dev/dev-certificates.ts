import 'reflect-metadata';
import { randomBytes, webcrypto, X509Certificate, type webcrypto as WebCrypto } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKeyPair = WebCrypto.CryptoKeyPair;
type CryptoKey = WebCrypto.CryptoKey;

const ALGORITHM = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]) };
const DAY_MS = 24 * 3600 * 1000;

/** A certificate with its private key, as PEM. */
export interface PemCertificate {
  readonly certificate: string;
  readonly privateKey: string;
}

/** The local HTTPS of dev mode and tests: a certificate authority and a loopback server certificate it signed. */
export interface DevCertificates {
  /** The CA's certificate: what a client adds to its trust (OUTBOUND_CA_FILE). */
  readonly ca: string;
  /** For 127.0.0.1, ::1 and localhost; signed by the CA. */
  readonly server: PemCertificate;
}

async function keyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey({ ...ALGORITHM, modulusLength: 2048 }, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
}

async function pemOf(privateKey: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', privateKey));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END PRIVATE KEY-----\n`;
}

const serial = () =>
  randomBytes(8)
    .toString('hex')
    .replace(/^[89a-f]/, '1');

/** A self-signed certificate, as an app registration's certificate credential would be. */
export async function createSelfSignedCertificate(subject: string, days = 365): Promise<PemCertificate> {
  const keys = await keyPair();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: subject,
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + days * DAY_MS),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
  });
  return { certificate: certificate.toString('pem'), privateKey: await pemOf(keys.privateKey) };
}

/** A new CA and a loopback server certificate signed by it (tests make one per run; dev mode keeps one in .dev/). */
export async function createDevCertificates(): Promise<DevCertificates> {
  const caKeys = await keyPair();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=entra-graphql-api local development CA',
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + 3650 * DAY_MS),
    keys: caKeys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const serverKeys = await keyPair();
  const server = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: 'CN=localhost',
    issuer: ca.subject,
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + 825 * DAY_MS),
    signingKey: caKeys.privateKey,
    publicKey: serverKeys.publicKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
        { type: 'ip', value: '::1' },
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(ca, false),
    ],
  });
  return {
    ca: ca.toString('pem'),
    server: { certificate: server.toString('pem'), privateKey: await pemOf(serverKeys.privateKey) },
  };
}

/**
 * Dev mode's certificates, kept in `.dev/` (git-ignored) so that they stay the same from one `npm run dev` to the
 * next. Only the API process started by `npm run dev` trusts this CA (through OUTBOUND_CA_FILE); nothing is added
 * to the system's trust store.
 */
export async function loadOrCreateDevCertificates(
  directory = join(process.cwd(), '.dev'),
): Promise<DevCertificates & { caFile: string }> {
  const files = {
    ca: join(directory, 'ca.pem'),
    cert: join(directory, 'localhost.pem'),
    key: join(directory, 'localhost-key.pem'),
  };
  try {
    const loaded = {
      ca: readFileSync(files.ca, 'utf8'),
      server: { certificate: readFileSync(files.cert, 'utf8'), privateKey: readFileSync(files.key, 'utf8') },
    };
    if (new Date(new X509Certificate(loaded.server.certificate).validTo).getTime() > Date.now() + DAY_MS) {
      return { ...loaded, caFile: files.ca };
    }
  } catch {
    // none yet, or unreadable: make new ones
  }
  const created = await createDevCertificates();
  mkdirSync(directory, { recursive: true });
  writeFileSync(files.ca, created.ca);
  writeFileSync(files.cert, created.server.certificate);
  writeFileSync(files.key, created.server.privateKey, { mode: 0o600 });
  return { ...created, caFile: files.ca };
}

/** The SHA-256 thumbprint of a PEM certificate, as `x5t#S256` carries it (base64url of the DER's hash). */
export function thumbprintSha256(certificatePem: string): string {
  return Buffer.from(new X509Certificate(certificatePem).fingerprint256.replaceAll(':', ''), 'hex').toString(
    'base64url',
  );
}
