import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ManagedIdentityApplication, type INetworkModule, type NodeAuthOptions } from '@azure/msal-node';
import { ConfigError, type ApiCredential } from '../config';
import type { Logger } from '../observability/logger';

/** The audience of a managed identity's token used as a federated credential (Entra ID's fixed value). */
export const TOKEN_EXCHANGE_RESOURCE = 'api://AzureADTokenExchange';

type CredentialOptions = Pick<NodeAuthOptions, 'clientSecret' | 'clientCertificate' | 'clientAssertion'>;

/**
 * The API's credential as msal-node takes it. Files are read and checked now, so that a wrong path, a key that
 * does not match its certificate or a wrong password stops the start with the setting's name; a federated token
 * file is read again for every token request, as Kubernetes rotates it.
 */
export function msalCredential(
  credential: ApiCredential,
  options: { readonly networkClient: INetworkModule; readonly logger: Logger },
): CredentialOptions {
  switch (credential.kind) {
    case 'secret':
      return { clientSecret: credential.secret };
    case 'certificate':
      return { clientCertificate: certificateCredential(credential.path, credential.password, options.logger) };
    case 'federated_token_file': {
      readable('API_FEDERATED_TOKEN_FILE', credential.path);
      const { path } = credential;
      return { clientAssertion: async () => (await readFile(path, 'utf8')).trim() };
    }
    case 'managed_identity': {
      const identity = new ManagedIdentityApplication({
        ...(credential.identity !== 'system' && {
          managedIdentityIdParams: { userAssignedClientId: credential.identity },
        }),
        system: { networkClient: options.networkClient, loggerOptions: { piiLoggingEnabled: false } },
      });
      // msal-node caches the managed identity's token and renews it before it expires.
      return {
        clientAssertion: async () => (await identity.acquireToken({ resource: TOKEN_EXCHANGE_RESOURCE })).accessToken,
      };
    }
  }
}

function readable(setting: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([`${setting}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
}

function certificateCredential(
  path: string,
  password: string | undefined,
  logger: Logger,
): NonNullable<CredentialOptions['clientCertificate']> {
  const pem = readable('API_CLIENT_CERTIFICATE_PATH', path);
  let certificate: X509Certificate;
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    certificate = new X509Certificate(pem);
  } catch {
    throw new ConfigError([
      `API_CLIENT_CERTIFICATE_PATH: ${path} holds no PEM certificate (put the certificate and its private key in one PEM file)`,
    ]);
  }
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem', ...(password !== undefined && { passphrase: password }) });
  } catch {
    throw new ConfigError([
      password === undefined
        ? `API_CLIENT_CERTIFICATE_PATH: ${path} holds no private key, or an encrypted one (set API_CLIENT_CERTIFICATE_PASSWORD)`
        : `API_CLIENT_CERTIFICATE_PATH: the private key in ${path} cannot be read with API_CLIENT_CERTIFICATE_PASSWORD`,
    ]);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new ConfigError([`API_CLIENT_CERTIFICATE_PATH: the private key in ${path} is not the certificate's`]);
  }
  const validTo = new Date(certificate.validTo);
  if (validTo.getTime() < Date.now()) {
    throw new ConfigError([
      `API_CLIENT_CERTIFICATE_PATH: the certificate in ${path} expired on ${validTo.toISOString()}`,
    ]);
  }
  if (validTo.getTime() < Date.now() + 30 * 24 * 3600 * 1000) {
    logger.warn(
      { event: 'certificate_expiring', validTo: validTo.toISOString() },
      'The API certificate (API_CLIENT_CERTIFICATE_PATH) expires within 30 days: upload a new one to the app registration',
    );
  }
  return {
    thumbprintSha256: certificate.fingerprint256.replaceAll(':', ''),
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
