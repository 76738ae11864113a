import 'reflect-metadata';
import { createPrivateKey, randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { ConfigError } from '../../src/config';
import { createSelfSignedCertificate } from '../../src/dev/dev-certificates';
import { TOKEN_EXCHANGE_AUDIENCE } from '../../src/dev/token-endpoint';
import { startOboWorld, type OboWorld } from '../helpers/downstream';
import { createTestServer, withTestServer } from '../helpers/server';

const QUERY = '{ hello { profile { displayName } } }';
const ANSWER = { data: { hello: { profile: { displayName: 'Ada Lovelace' } } } };
const REFUSED = {
  code: 'DOWNSTREAM_REFUSED',
  reason: 'refused',
  service: 'token_endpoint',
};

/** The settings of a world without its client secret, plus the credential under test. */
const withCredential = (world: OboWorld, credential: Record<string, string>) => {
  const { API_CLIENT_SECRET: _secret, ...rest } = world.env;
  return { ...rest, ...credential };
};

describe('a certificate credential (API_CLIENT_CERTIFICATE_PATH)', () => {
  let world: OboWorld;
  let registered: { certificate: string; privateKey: string };
  beforeAll(async () => {
    registered = await createSelfSignedCertificate('CN=entra-graphql-api');
    world = await startOboWorld({ certificates: [registered.certificate] });
  });
  afterAll(() => world.close());

  it('signs the client assertion with the key of the registered certificate', async () => {
    const file = join(world.directory, 'api.pem');
    writeFileSync(file, registered.privateKey + registered.certificate);
    await withTestServer(withCredential(world, { API_CLIENT_CERTIFICATE_PATH: file }), world.idp, async (api) => {
      const before = world.idp.tokenRequests();
      expect((await api.queryWithToken(await world.idp.mint(), QUERY)).body).toEqual(ANSWER);
      expect(world.idp.tokenRequests() - before).toBe(1);
      expect(api.rawLogs()).not.toContain('PRIVATE KEY');
    });
  });

  it('reads an encrypted key with API_CLIENT_CERTIFICATE_PASSWORD', async () => {
    const encrypted = createPrivateKey(registered.privateKey).export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: 'correct horse',
    });
    const file = join(world.directory, 'encrypted.pem');
    writeFileSync(file, encrypted + registered.certificate);
    await withTestServer(
      withCredential(world, { API_CLIENT_CERTIFICATE_PATH: file, API_CLIENT_CERTIFICATE_PASSWORD: 'correct horse' }),
      world.idp,
      async (api) => {
        expect((await api.queryWithToken(await world.idp.mint(), QUERY)).body).toEqual(ANSWER);
      },
    );
    await expect(
      createTestServer(
        withCredential(world, { API_CLIENT_CERTIFICATE_PATH: file, API_CLIENT_CERTIFICATE_PASSWORD: 'wrong' }),
        world.idp,
      ),
    ).rejects.toEqual(
      new ConfigError([
        `API_CLIENT_CERTIFICATE_PATH: the private key in ${file} cannot be read with API_CLIENT_CERTIFICATE_PASSWORD`,
      ]),
    );
    await expect(
      createTestServer(withCredential(world, { API_CLIENT_CERTIFICATE_PATH: file }), world.idp),
    ).rejects.toEqual(
      new ConfigError([
        `API_CLIENT_CERTIFICATE_PATH: ${file} holds no private key, or an encrypted one (set API_CLIENT_CERTIFICATE_PASSWORD)`,
      ]),
    );
  });

  it('refuses to start with a missing file, a file without a certificate, or a key that is not the certificate’s', async () => {
    const missing = join(world.directory, 'missing.pem');
    await expect(
      createTestServer(withCredential(world, { API_CLIENT_CERTIFICATE_PATH: missing }), world.idp),
    ).rejects.toEqual(new ConfigError([`API_CLIENT_CERTIFICATE_PATH: cannot read ${missing} (ENOENT)`]));

    const keyOnly = join(world.directory, 'key-only.pem');
    writeFileSync(keyOnly, registered.privateKey);
    await expect(
      createTestServer(withCredential(world, { API_CLIENT_CERTIFICATE_PATH: keyOnly }), world.idp),
    ).rejects.toEqual(
      new ConfigError([
        `API_CLIENT_CERTIFICATE_PATH: ${keyOnly} holds no PEM certificate (put the certificate and its private key in one PEM file)`,
      ]),
    );

    const other = await createSelfSignedCertificate('CN=someone else');
    const mismatched = join(world.directory, 'mismatched.pem');
    writeFileSync(mismatched, other.privateKey + registered.certificate);
    await expect(
      createTestServer(withCredential(world, { API_CLIENT_CERTIFICATE_PATH: mismatched }), world.idp),
    ).rejects.toEqual(
      new ConfigError([`API_CLIENT_CERTIFICATE_PATH: the private key in ${mismatched} is not the certificate's`]),
    );
  });

  it('is refused by the token endpoint when the certificate is not registered', async () => {
    const unregistered = await createSelfSignedCertificate('CN=entra-graphql-api');
    const file = join(world.directory, 'unregistered.pem');
    writeFileSync(file, unregistered.privateKey + unregistered.certificate);
    await withTestServer(withCredential(world, { API_CLIENT_CERTIFICATE_PATH: file }), world.idp, async (api) => {
      const reply = await api.queryWithToken(await world.idp.mint(), QUERY);
      expect(reply.body).toMatchObject({ data: { hello: { profile: null } }, errors: [{ extensions: REFUSED }] });
      expect(api.logs.filter((line) => line['event'] === 'obo_refused')).toEqual([
        expect.objectContaining({ error: 'invalid_client', aadsts: 700027 }),
      ]);
    });
  });
});

/** A signer of federated assertions (a Kubernetes service account issuer, a managed identity's tenant). */
async function assertionIssuer(issuer: string, subject: string) {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const kid = randomUUID();
  return {
    credential: { issuer, subject, key: { ...(await exportJWK(publicKey)), kid, alg: 'RS256' } },
    sign: (key: CryptoKey = privateKey) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'RS256', kid })
        .setIssuer(issuer)
        .setSubject(subject)
        .setAudience(TOKEN_EXCHANGE_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(key),
  };
}

describe('a federated credential from a file (API_FEDERATED_TOKEN_FILE, Kubernetes workload identity)', () => {
  it('sends the file as the client assertion, read again for every token request as Kubernetes rotates it', async () => {
    const kubernetes = await assertionIssuer(
      'https://oidc.prod-aks.azure.com/0f0e0d0c-0b0a-4909-8807-060504030201/',
      'system:serviceaccount:api:entra-graphql-api',
    );
    const world = await startOboWorld({ federated: [kubernetes.credential] });
    const file = join(world.directory, 'azure-identity-token');
    writeFileSync(file, `${await kubernetes.sign()}\n`);
    const api = await createTestServer(withCredential(world, { API_FEDERATED_TOKEN_FILE: file }), world.idp);
    try {
      expect((await api.queryWithToken(await world.idp.mint(), QUERY)).body).toEqual(ANSWER);

      // A token signed by a key the app registration does not trust: refused, so the file was read again.
      const { privateKey: stranger } = await generateKeyPair('RS256');
      writeFileSync(file, await kubernetes.sign(stranger));
      expect((await api.queryWithToken(await world.idp.mint(), QUERY)).body).toMatchObject({
        errors: [{ extensions: REFUSED }],
      });

      writeFileSync(file, await kubernetes.sign());
      expect((await api.queryWithToken(await world.idp.mint(), QUERY)).body).toEqual(ANSWER);
    } finally {
      await api.close();
      await world.close();
    }
  });

  it('refuses to start when the file cannot be read', async () => {
    const world = await startOboWorld();
    try {
      const missing = join(world.directory, 'no-token');
      await expect(
        createTestServer(withCredential(world, { API_FEDERATED_TOKEN_FILE: missing }), world.idp),
      ).rejects.toEqual(new ConfigError([`API_FEDERATED_TOKEN_FILE: cannot read ${missing} (ENOENT)`]));
    } finally {
      await world.close();
    }
  });
});

describe("a managed identity's assertion (API_MANAGED_IDENTITY_ASSERTION)", () => {
  const saved = { endpoint: process.env['IDENTITY_ENDPOINT'], header: process.env['IDENTITY_HEADER'] };
  let endpoint: Server;
  const asked: { resource: string | null; clientId: string | null; header: string | undefined }[] = [];

  afterAll(async () => {
    for (const [name, value] of [
      ['IDENTITY_ENDPOINT', saved.endpoint],
      ['IDENTITY_HEADER', saved.header],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await new Promise((resolve) => endpoint?.close(resolve));
  });

  it("gets the identity's token for api://AzureADTokenExchange from the host (App Service) and sends it as the assertion", async () => {
    const identity = await assertionIssuer(
      'https://login.microsoftonline.com/7b6a1c4e-0d3f-4c2a-9e51-3f8d2b7a6c10/v2.0',
      'e1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e6f7',
    );
    // The App Service managed identity endpoint: plain HTTP on the host, a shared secret in X-IDENTITY-HEADER.
    endpoint = createHttpServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      asked.push({
        resource: url.searchParams.get('resource'),
        clientId: url.searchParams.get('client_id'),
        header: req.headers['x-identity-header'] as string | undefined,
      });
      void identity.sign().then((token) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            access_token: token,
            expires_on: String(Math.floor(Date.now() / 1000) + 3600),
            resource: TOKEN_EXCHANGE_AUDIENCE,
            token_type: 'Bearer',
          }),
        );
      });
    });
    await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
    process.env['IDENTITY_ENDPOINT'] = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/msi/token`;
    process.env['IDENTITY_HEADER'] = 'host-secret';

    const world = await startOboWorld({ federated: [identity.credential] });
    const userAssigned = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
    const api = await createTestServer(
      withCredential(world, { API_MANAGED_IDENTITY_ASSERTION: userAssigned }),
      world.idp,
    );
    try {
      expect((await api.queryWithToken(await world.idp.mint(), QUERY)).body).toEqual(ANSWER);
      expect((await api.queryWithToken(await world.idp.mint(), QUERY)).body).toEqual(ANSWER);
      // msal-node keeps the identity's token: one call to the host for two token requests.
      expect(asked).toEqual([{ resource: TOKEN_EXCHANGE_AUDIENCE, clientId: userAssigned, header: 'host-secret' }]);
    } finally {
      await api.close();
      await world.close();
    }
  });
});
