import { createTokenVerifier } from '../../src/auth';
import { loadConfig } from '../../src/config';
import { createSigningKey } from '../../src/dev/signing-key';
import { startIdentityProvider, type IdentityProvider } from '../../src/dev/identity-provider';
import { expectRefusal } from '../auth/expect-reason';
import { authFixture, type AuthFixture } from '../helpers/auth';
import { withTestServer } from '../helpers/server';

/**
 * Entra External ID (CIAM) tenants: their v2 tokens are issued by `https://{tid}.ciamlogin.com/{tid}/v2.0`, or by a
 * custom URL domain, and discovery is read from the authority the API is configured with. Both are emulated on
 * loopback: the provider's discovery names the issuer, and the tokens it signs carry it.
 */
const ciamIssuerOrigin = (tenant: string) => `https://${tenant}.ciamlogin.com`;
const CUSTOM_DOMAIN = 'https://login.customers.contoso.example';
const OTHER_TENANT = '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0';

describe('an External ID tenant with a ciamlogin.com issuer', () => {
  let idp: IdentityProvider;
  let f: AuthFixture;

  beforeAll(async () => {
    idp = await startIdentityProvider({ v2IssuerOrigin: ciamIssuerOrigin });
    f = await authFixture({ tenantType: 'external' }, idp);
    await f.verifier.start();
  });
  afterAll(async () => {
    f.verifier.stop();
    await idp.close();
  });

  it("accepts a customer's v2 token, bound to the issuer its discovery names", async () => {
    const token = await f.mint({ claims: { idp: 'google.com' } });
    const principal = await f.verifier.verify(token);
    expect(principal).toMatchObject({
      kind: 'user',
      tenantId: idp.tenantId,
      tokenVersion: '2.0',
      scopes: ['access_as_user'],
      // A customer signing in with a social provider is the tenant's own user, not a B2B guest.
      isGuest: false,
    });
    expect(idp.issuers.v2(idp.tenantId)).toBe(`https://${idp.tenantId}.ciamlogin.com/${idp.tenantId}/v2.0`);
  });

  it('accepts an app-only token as an app', async () => {
    expect(await f.verifier.verify(await f.mint({ kind: 'app' }))).toMatchObject({
      kind: 'app',
      roles: ['Hello.Read.All'],
    });
  });

  it('refuses an issuer its discovery does not name, even on ciamlogin.com', async () => {
    for (const iss of [
      `https://${OTHER_TENANT}.ciamlogin.com/${idp.tenantId}/v2.0`,
      `${idp.url}/${idp.tenantId}/v2.0`,
      `https://login.microsoftonline.com/${idp.tenantId}/v2.0`,
    ]) {
      await expectRefusal(f.verifier.verify(await f.mint({ claims: { iss } })), 'wrong_issuer');
    }
  });

  it("refuses another tenant's token, whose issuer and tid agree with each other", async () => {
    const token = await f.mint({
      tenantId: OTHER_TENANT,
      claims: { iss: `https://${OTHER_TENANT}.ciamlogin.com/${OTHER_TENANT}/v2.0` },
    });
    await expectRefusal(f.verifier.verify(token), 'wrong_issuer');
    await expectRefusal(f.verifier.verify(await f.mint({ tenantId: OTHER_TENANT })), 'wrong_issuer');
  });

  it('checks the audience, the lifetime, the signature and the caller kind as for workforce tokens', async () => {
    await expectRefusal(f.verifier.verify(await f.mint({ audience: 'api://another-api' })), 'wrong_audience');
    await expectRefusal(f.verifier.verify(await f.mint({ issuedAt: f.clock.seconds - 7200 })), 'expired');
    const stranger = await createSigningKey();
    const forged = await f.mint({ key: stranger, header: { kid: idp.currentKey.kid } });
    await expectRefusal(f.verifier.verify(forged), 'bad_signature');
    await expectRefusal(f.verifier.verify(await f.mint({ claims: { azp: undefined } })), 'not_access_token');
    await expectRefusal(f.verifier.verify(await f.mint({ version: '1.0' })), 'version_not_accepted');
  });

  it('refuses B2C tokens by name, saying why and where the docs are', async () => {
    for (const claims of [
      { iss: `https://contoso.b2clogin.com/${idp.tenantId}/v2.0/` },
      { tfp: 'B2C_1_signupsignin' },
      { acr: 'b2c_1_signin' },
    ]) {
      await expectRefusal(
        f.verifier.verify(await f.mint({ claims })),
        'b2c_not_supported',
        "Azure AD B2C tokens are not accepted: this API trusts Microsoft Entra ID, or Entra External ID (B2C's successor) when configured so (docs/entra-id.md#external-id)",
      );
    }
  });

  it('is refused by a verifier of a workforce tenant, which says External ID tokens are not accepted', async () => {
    const workforce = createTokenVerifier({
      tenantId: idp.tenantId,
      clientId: idp.clientId,
      authorityHost: idp.url,
      now: f.clock.now,
    });
    await expectRefusal(
      workforce.verify(await f.mint()),
      'unsupported_issuer',
      'Microsoft Entra External ID tokens are not accepted by this API: request a token from the Entra ID tenant it trusts',
    );
  });
});

describe('an External ID tenant behind a custom URL domain', () => {
  it('accepts the tokens of the issuer its discovery names, and no other', async () => {
    const idp = await startIdentityProvider({ v2IssuerOrigin: CUSTOM_DOMAIN });
    const f = await authFixture({ tenantType: 'external' }, idp);
    try {
      expect(await f.verifier.verify(await f.mint())).toMatchObject({ kind: 'user', tenantId: idp.tenantId });
      const ciam = `https://${idp.tenantId}.ciamlogin.com/${idp.tenantId}/v2.0`;
      await expectRefusal(f.verifier.verify(await f.mint({ claims: { iss: ciam } })), 'wrong_issuer');
    } finally {
      f.verifier.stop();
      await idp.close();
    }
  });
});

describe('the External ID settings', () => {
  const base = {
    NODE_ENV: 'test',
    AZURE_TENANT_ID: '7b6a1c4e-0d3f-4c2a-9e51-3f8d2b7a6c10',
    AZURE_CLIENT_ID: 'b3c1e0f2-5a4d-4e6b-8c7a-9d2f1e0a3b45',
  };
  const problemsOf = (env: Record<string, string>) => {
    try {
      loadConfig({ ...base, ...env });
      return [];
    } catch (error) {
      return (error as { problems: string[] }).problems;
    }
  };

  it('take AZURE_TENANT_TYPE=external with the tenant GUID and its ciamlogin.com or custom domain authority', () => {
    for (const host of ['https://contoso.ciamlogin.com', CUSTOM_DOMAIN]) {
      const config = loadConfig({ ...base, AZURE_TENANT_TYPE: 'external', AZURE_AUTHORITY_HOST: host });
      expect(config.auth).toMatchObject({ tenantType: 'external', authorityHost: host, acceptedVersions: ['2.0'] });
    }
    expect(loadConfig(base).auth).toMatchObject({ tenantType: 'workforce', acceptedVersions: ['1.0', '2.0'] });
  });

  it('refuse to start with what cannot be an External ID setup, saying what to set', () => {
    expect(problemsOf({ AZURE_TENANT_TYPE: 'external' })).toEqual([
      "AZURE_TENANT_TYPE=external needs AZURE_AUTHORITY_HOST set to the tenant's https://<subdomain>.ciamlogin.com or its custom URL domain",
    ]);
    expect(
      problemsOf({
        AZURE_TENANT_TYPE: 'external',
        AZURE_AUTHORITY_HOST: 'https://contoso.ciamlogin.com',
        AZURE_TENANT_ID: 'organizations',
        AZURE_ALLOWED_TENANTS: base.AZURE_TENANT_ID,
      }),
    ).toEqual(['AZURE_TENANT_TYPE=external needs the External ID tenant GUID in AZURE_TENANT_ID']);
    expect(
      problemsOf({
        AZURE_TENANT_TYPE: 'external',
        AZURE_AUTHORITY_HOST: 'https://contoso.ciamlogin.com',
        AZURE_ACCEPTED_TOKEN_VERSIONS: '1,2',
      }),
    ).toEqual(['AZURE_ACCEPTED_TOKEN_VERSIONS must be 2 for an External ID tenant']);
    expect(problemsOf({ AZURE_AUTHORITY_HOST: 'https://contoso.ciamlogin.com' })).toEqual([
      'AZURE_AUTHORITY_HOST is an External ID (ciamlogin.com) authority: set AZURE_TENANT_TYPE=external too',
    ]);
    expect(problemsOf({ AZURE_TENANT_TYPE: 'customer' })).toEqual(['AZURE_TENANT_TYPE must be workforce or external']);
  });
});

describe('the API on an External ID tenant, over HTTP', () => {
  it('answers hello for a customer, and refuses a B2C token with its own 401 description', async () => {
    const idp = await startIdentityProvider({ v2IssuerOrigin: ciamIssuerOrigin });
    try {
      await withTestServer({ AZURE_TENANT_TYPE: 'external' }, idp, async (api) => {
        const reply = await api.queryWithToken(await idp.mint(), '{ hello { kind tenantId } }');
        expect(reply.status).toBe(200);
        expect(reply.body).toEqual({ data: { hello: { kind: 'USER', tenantId: idp.tenantId } } });
        const b2c = await api.queryWithToken(await idp.mint({ claims: { tfp: 'B2C_1_signin' } }), '{ hello { kind } }');
        expect(b2c.status).toBe(401);
        expect(b2c.headers.get('www-authenticate')).toBe(
          `Bearer error="invalid_token", error_description="Azure AD B2C tokens are not accepted: this API trusts Microsoft Entra ID, or Entra External ID (B2C's successor) when configured so (docs/entra-id.md#external-id)", resource_metadata="${api.url}/.well-known/oauth-protected-resource"`,
        );
      });
    } finally {
      await idp.close();
    }
  });
});
