import { createPublicKey } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { importJWK, SignJWT } from 'jose';
import { createSigningKey } from '../../src/dev/signing-key';
import { startIdentityProvider, type IdentityProvider } from '../../src/dev/identity-provider';
import { authFixture, type AuthFixture } from '../helpers/auth';
import { principals } from '../helpers/principals';
import { forge, hmacWithPublicKey, parts } from '../helpers/forge';
import { expectRefusal } from './expect-reason';

const OTHER_TENANT = '0f0e0d0c-0b0a-4909-8807-060504030201';
const ALLOWED_TENANT = '11111111-2222-4333-8444-555555555555';

let idp: IdentityProvider;
let f: AuthFixture;

beforeAll(async () => {
  idp = await startIdentityProvider();
});
afterAll(() => idp.close());
beforeEach(async () => {
  f = await authFixture({}, idp);
});

describe('valid tokens', () => {
  it('accepts a v2 user token and returns the caller', async () => {
    const token = await f.mint();
    const principal = await f.verifier.verify(token);
    expect(principal).toEqual({ ...principals.v2User, expiresAt: parts(token).payload['exp'] });
    expect(principal.expiresAt).toBe((parts(token).payload['iat'] as number) + 3600);
    expect(Object.isFrozen(principal)).toBe(true);
    expect(Object.isFrozen(principal.scopes)).toBe(true);
  });

  it('accepts a v1 user token checked against the v1 issuer, with the upn as username', async () => {
    const token = await f.mint({ version: '1.0', scopes: 'access_as_user  Files.Read' });
    expect(parts(token).payload['iss']).toBe(`https://sts.windows.net/${idp.tenantId}/`);
    const principal = await f.verifier.verify(token);
    expect(principal).toMatchObject({
      kind: 'user',
      tokenVersion: '1.0',
      username: 'ada@contoso.example',
      scopes: ['access_as_user', 'Files.Read'],
      appId: 'c9d8e7f6-1a2b-4c3d-9e8f-0a1b2c3d4e5f',
    });
  });

  it('treats a token without scp and without idtyp as app-only, named by its client id', async () => {
    const principal = await f.verifier.verify(await f.mint({ kind: 'app', roles: ['Hello.Read.All'] }));
    expect(principal).toMatchObject({
      kind: 'app',
      username: 'c9d8e7f6-1a2b-4c3d-9e8f-0a1b2c3d4e5f',
      roles: ['Hello.Read.All'],
      scopes: [],
      employeeId: null,
      name: null,
      isGuest: false,
    });
  });

  it('accepts a v1 app-only token', async () => {
    const principal = await f.verifier.verify(await f.mint({ version: '1.0', kind: 'app', claims: { idtyp: 'app' } }));
    expect(principal).toMatchObject({
      kind: 'app',
      tokenVersion: '1.0',
      appId: 'c9d8e7f6-1a2b-4c3d-9e8f-0a1b2c3d4e5f',
    });
  });

  it('takes the kind from idtyp when present', async () => {
    const user = await f.verifier.verify(await f.mint({ claims: { idtyp: 'user' } }));
    expect(user.kind).toBe('user');
    const app = await f.verifier.verify(await f.mint({ kind: 'app', claims: { idtyp: 'app' } }));
    expect(app.kind).toBe('app');
  });

  it('marks guests by acct 1 or by an idp of another tenant, and not apps or home users', async () => {
    const byAcct = await f.verifier.verify(await f.mint({ claims: { acct: 1 } }));
    expect(byAcct.isGuest).toBe(true);
    const byIdp = await f.verifier.verify(
      await f.mint({ claims: { idp: `https://sts.windows.net/${OTHER_TENANT}/` } }),
    );
    expect(byIdp.isGuest).toBe(true);
    const home = await f.verifier.verify(
      await f.mint({ claims: { idp: `https://sts.windows.net/${idp.tenantId}/`, acct: 0 } }),
    );
    expect(home.isGuest).toBe(false);
    const sameIdp = await f.verifier.verify(
      await f.mint({ version: '1.0', claims: { idp: idp.issuers.v1(idp.tenantId) } }),
    );
    expect(sameIdp.isGuest).toBe(false);
    const app = await f.verifier.verify(
      await f.mint({ kind: 'app', claims: { idp: `https://sts.windows.net/${OTHER_TENANT}/` } }),
    );
    expect(app.isGuest).toBe(false);
  });

  it('falls back from preferred_username to upn, unique_name, email and finally the object id', async () => {
    const base = { preferred_username: undefined };
    const names = [
      [{ ...base, upn: 'u@x.example' }, 'u@x.example'],
      [{ ...base, unique_name: 'un@x.example' }, 'un@x.example'],
      [{ ...base, email: 'e@x.example' }, 'e@x.example'],
      [base, '3f1e2d4c-5b6a-4789-8a0b-1c2d3e4f5a6b'],
    ] as const;
    for (const [claims, username] of names) {
      expect((await f.verifier.verify(await f.mint({ claims }))).username).toBe(username);
    }
  });

  it('compares client and tenant ids without regard to case, also inside an App ID URI', async () => {
    const upper = idp.clientId.toUpperCase();
    const verifier = (
      await authFixture(
        { tenantId: idp.tenantId.toUpperCase(), clientId: upper, audiences: [`api://${upper}`, upper] },
        idp,
      )
    ).verifier;
    expect((await verifier.verify(await f.mint())).kind).toBe('user');
    expect((await verifier.verify(await f.mint({ version: '1.0' }))).tokenVersion).toBe('1.0');
    const upperAud = await f.mint({ audience: `api://${upper}` });
    expect((await f.verifier.verify(upperAud)).kind).toBe('user');
    await expectRefusal(f.verifier.verify(await f.mint({ audience: `API://${idp.clientId}x` })), 'wrong_audience');
  });

  it('gives subject null when sub is absent', async () => {
    const principal = await f.verifier.verify(await f.mint({ claims: { sub: undefined } }));
    expect(principal).toMatchObject({ kind: 'user', subject: null, objectId: '3f1e2d4c-5b6a-4789-8a0b-1c2d3e4f5a6b' });
  });

  it('gives employeeId null when the claim is absent and logs how to set it up once', async () => {
    const first = await f.verifier.verify(await f.mint({ claims: { employeeid: undefined } }));
    await f.verifier.verify(await f.mint({ claims: { employeeid: undefined } }));
    expect(first.employeeId).toBeNull();
    const hints = f.logger.lines.filter((line) => line.details['event'] === 'employee_id_claim_absent');
    expect(hints).toHaveLength(1);
    expect(hints[0]!.message).toContain('claims-mapping policy (source user.employeeid)');
  });

  it('reads the employee id from the configured claim', async () => {
    const custom = await authFixture({ employeeIdClaim: 'extn.employeeNumber' }, idp);
    const principal = await custom.verifier.verify(await custom.mint({ claims: { 'extn.employeeNumber': 'X-9' } }));
    expect(principal.employeeId).toBe('X-9');
  });

  it('accepts a token that is expired or not yet valid by less than the clock skew', async () => {
    const expired = await f.mint({ issuedAt: f.clock.seconds - 3600 - 299, expiresInSeconds: 3600 });
    await expect(f.verifier.verify(expired)).resolves.toMatchObject({ kind: 'user' });
    const early = await f.mint({ issuedAt: f.clock.seconds + 299 });
    await expect(f.verifier.verify(early)).resolves.toMatchObject({ kind: 'user' });
  });

  it('accepts a token without scp or roles when the access-list opt-out is on', async () => {
    const acl = await authFixture({ allowTokensWithoutPermissions: true }, idp);
    const principal = await acl.verifier.verify(await acl.mint({ kind: 'app', claims: { roles: undefined } }));
    expect(principal).toMatchObject({ kind: 'app', roles: [] });
  });

  it('accepts a configured custom audience', async () => {
    const custom = await authFixture({ audiences: ['https://api.contoso.example/'] }, idp);
    const token = await custom.mint({ version: '1.0', audience: 'https://api.contoso.example/' });
    await expect(custom.verifier.verify(token)).resolves.toMatchObject({ tokenVersion: '1.0' });
    await expectRefusal(custom.verifier.verify(await custom.mint()), 'wrong_audience');
  });

  it('accepts an audience given as an array when one value is accepted', async () => {
    const token = await f.mint({ audience: ['other', idp.clientId] as unknown as string });
    await expect(f.verifier.verify(token)).resolves.toMatchObject({ kind: 'user' });
  });
});

describe('multi-tenant', () => {
  it.each(['organizations', 'common'])(
    'accepts an allowed tenant through the %s template and refuses others',
    async (tenantId) => {
      const multi = await authFixture({ tenantId, allowedTenants: [ALLOWED_TENANT] }, idp);
      const allowed = await multi.verifier.verify(await multi.mint({ tenantId: ALLOWED_TENANT }));
      expect(allowed.tenantId).toBe(ALLOWED_TENANT);
      const v1 = await multi.verifier.verify(await multi.mint({ tenantId: ALLOWED_TENANT, version: '1.0' }));
      expect(v1.tokenVersion).toBe('1.0');
      await expectRefusal(
        multi.verifier.verify(await multi.mint({ tenantId: OTHER_TENANT })),
        'tenant_not_allowed',
        "The caller's tenant is not allowed to use this API",
      );
    },
  );

  it('refuses a token whose iss names another tenant than its tid', async () => {
    const multi = await authFixture({ tenantId: 'organizations', allowedTenants: [ALLOWED_TENANT] }, idp);
    const token = await multi.mint({ tenantId: ALLOWED_TENANT, claims: { iss: idp.issuers.v2(OTHER_TENANT) } });
    await expectRefusal(
      multi.verifier.verify(token),
      'wrong_issuer',
      'Invalid token issuer: request a token from the Entra ID tenant this API trusts',
    );
  });
});

describe('refused tokens', () => {
  it('refuses a token from another tenant in single-tenant mode', async () => {
    await expectRefusal(f.verifier.verify(await f.mint({ tenantId: OTHER_TENANT })), 'wrong_issuer');
    const sameIssuer = await f.mint({ tenantId: OTHER_TENANT, claims: { iss: idp.issuers.v2(idp.tenantId) } });
    await expectRefusal(f.verifier.verify(sameIssuer), 'tenant_not_allowed');
  });

  it('refuses a v2 key whose own issuer differs from the token issuer', async () => {
    const idp2 = await startIdentityProvider();
    try {
      idp2.keyIssuers.set(idp2.currentKey.kid, idp2.issuers.v2(OTHER_TENANT));
      const fx = await authFixture({}, idp2);
      await expectRefusal(
        fx.verifier.verify(await fx.mint()),
        'key_issuer_mismatch',
        'Invalid token: its signing key is not valid for its issuer',
      );
      idp2.keyIssuers.set(idp2.currentKey.kid, 42 as unknown as string);
      const fresh = await authFixture({}, idp2);
      await expectRefusal(fresh.verifier.verify(await fresh.mint()), 'key_issuer_mismatch');
    } finally {
      await idp2.close();
    }
  });

  it('refuses alg none', async () => {
    const { header, payload } = parts(await f.mint());
    const token = forge({ ...header, alg: 'none' }, payload);
    await expectRefusal(
      f.verifier.verify(token),
      'unsupported_algorithm',
      'Invalid token: only RS256-signed Entra ID access tokens are accepted',
    );
  });

  it('refuses HS256 signed with the public key as the secret', async () => {
    const { header, payload } = parts(await f.mint());
    const pem = createPublicKey({ key: idp.currentKey.publicJwk as never, format: 'jwk' }).export({
      type: 'spki',
      format: 'pem',
    }) as string;
    await expectRefusal(
      f.verifier.verify(hmacWithPublicKey({ ...header, alg: 'HS256' }, payload, pem)),
      'unsupported_algorithm',
    );
  });

  it('refuses RS384 even when signed by a published key', async () => {
    const { header, payload } = parts(await f.mint());
    const rs384 = await importJWK(idp.currentKey.privateJwk, 'RS384');
    const token = await new SignJWT(payload).setProtectedHeader({ ...header, alg: 'RS384' }).sign(rs384);
    await expectRefusal(f.verifier.verify(token), 'unsupported_algorithm');
  });

  it('refuses a token without kid', async () => {
    await expectRefusal(
      f.verifier.verify(await f.mint({ header: { kid: undefined } })),
      'missing_key_id',
      "Invalid token: the header names no signing key ('kid')",
    );
  });

  it('refuses a token with a crit header', async () => {
    const { header, payload, signature } = parts(await f.mint());
    await expectRefusal(
      f.verifier.verify(forge({ ...header, crit: ['exp'] }, payload, signature)),
      'unsupported_header',
    );
  });

  it('never follows jku, x5u or an embedded jwk', async () => {
    let attackerHits = 0;
    const attacker = createServer((_req, res) => {
      attackerHits += 1;
      res.end('{}');
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    try {
      const evilKey = await createSigningKey(idp.currentKey.kid);
      const where = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}/keys`;
      const token = await f.mint({ key: evilKey, header: { jku: where, x5u: where, jwk: evilKey.publicJwk } });
      await expectRefusal(
        f.verifier.verify(token),
        'bad_signature',
        'Invalid token signature: request a new token from Entra ID',
      );
      expect(attackerHits).toBe(0);
    } finally {
      attacker.close();
    }
  });

  it('refuses a Microsoft Graph token by its nonce header, naming the scope to request', async () => {
    const error = await expectRefusal(f.verifier.verify(await f.mint({ header: { nonce: 'abc' } })), 'graph_token');
    expect(error.description).toBe(
      'This is a Microsoft Graph token, which only Graph can validate: request a token for this API',
    );
  });

  it.each(['00000003-0000-0000-c000-000000000000', 'https://graph.microsoft.com', 'https://graph.microsoft.us/'])(
    'refuses a token for the Graph audience %s and names api://<client id>/.default',
    async (audience) => {
      await expectRefusal(
        f.verifier.verify(await f.mint({ audience })),
        'graph_token',
        `This is a Microsoft Graph token, which only Graph can validate: request a token for this API (api://${idp.clientId}/.default)`,
      );
    },
  );

  it('refuses the B2C issuer, and a B2C token recognised by its tfp claim, as B2C', async () => {
    const b2c =
      "Azure AD B2C tokens are not accepted: this API trusts Microsoft Entra ID, or Entra External ID (B2C's successor) when configured so (docs/entra-id.md#external-id)";
    const iss = 'https://contoso.b2clogin.com/tfp/x/v2.0/';
    await expectRefusal(f.verifier.verify(await f.mint({ claims: { iss } })), 'b2c_not_supported', b2c);
    await expectRefusal(f.verifier.verify(await f.mint({ claims: { tfp: 'B2C_1_signin' } })), 'b2c_not_supported');
  });

  it('refuses an External ID issuer, this tenant being a workforce one', async () => {
    await expectRefusal(
      f.verifier.verify(await f.mint({ claims: { iss: 'https://contoso.ciamlogin.com/x/v2.0' } })),
      'unsupported_issuer',
      'Microsoft Entra External ID tokens are not accepted by this API: request a token from the Entra ID tenant it trusts',
    );
  });

  it('refuses a ver that disagrees with the issuer form', async () => {
    await expectRefusal(f.verifier.verify(await f.mint({ claims: { ver: '1.0' } })), 'version_mismatch');
    await expectRefusal(
      f.verifier.verify(await f.mint({ version: '1.0', claims: { ver: '2.0' } })),
      'version_mismatch',
    );
  });

  it('refuses a token version that is not accepted', async () => {
    const v2only = await authFixture({ acceptedVersions: ['2.0'] }, idp);
    await expectRefusal(v2only.verifier.verify(await v2only.mint({ version: '1.0' })), 'version_not_accepted');
  });

  it('refuses an unknown kid', async () => {
    await expectRefusal(
      f.verifier.verify(await f.mint({ key: await createSigningKey() })),
      'unknown_key',
      'Invalid token: it is signed with a key the identity provider does not publish; request a new token',
    );
  });

  it('refuses a published kid whose key is not an RS256 signing key', async () => {
    const idp2 = await startIdentityProvider();
    try {
      (idp2.currentKey.publicJwk as { use?: string }).use = 'enc';
      const fx = await authFixture({}, idp2);
      await expectRefusal(fx.verifier.verify(await fx.mint()), 'unknown_key');
    } finally {
      await idp2.close();
    }
  });

  it('refuses a tampered payload', async () => {
    const { header, payload, signature } = parts(await f.mint());
    await expectRefusal(f.verifier.verify(forge(header, { ...payload, scp: 'admin' }, signature)), 'bad_signature');
  });

  it('refuses a token expired beyond the skew with the seed wording', async () => {
    const token = await f.mint({ issuedAt: f.clock.seconds - 3600 - 301, expiresInSeconds: 3600 });
    await expectRefusal(f.verifier.verify(token), 'expired', 'Token has expired: request a new access token');
  });

  it('refuses a token whose nbf is beyond the skew', async () => {
    await expectRefusal(
      f.verifier.verify(await f.mint({ issuedAt: f.clock.seconds + 301 })),
      'not_yet_valid',
      'Token is not valid yet: check the clock of the client and request a new token',
    );
  });

  it.each([
    ['missing', undefined],
    ['not a GUID', 'contoso.onmicrosoft.com'],
  ])('refuses a tid that is %s', async (_case, tid) => {
    await expectRefusal(f.verifier.verify(await f.mint({ claims: { tid } })), 'invalid_tenant');
  });

  it('refuses a wrong audience with the seed wording and the scope to request', async () => {
    await expectRefusal(
      f.verifier.verify(await f.mint({ audience: 'api://someone-else' })),
      'wrong_audience',
      `Invalid token audience: request a token for this API (api://${idp.clientId}/.default)`,
    );
    await expectRefusal(f.verifier.verify(await f.mint({ claims: { aud: undefined } })), 'wrong_audience');
  });

  it('refuses a token with neither scp nor roles, such as an ID token', async () => {
    await expectRefusal(
      f.verifier.verify(await f.mint({ kind: 'app', claims: { roles: undefined } })),
      'no_permissions',
      `The token carries no scopes or app roles: request an access token for this API (api://${idp.clientId}/.default)`,
    );
  });

  it.each([
    ['oid missing', { oid: undefined }],
    ['scp not a string', { scp: ['a'] }],
    ['roles not strings', { roles: [1] }],
    ['exp missing', { exp: undefined }],
    ['iat not a number', { iat: 'yesterday' }],
  ])('refuses claims of the wrong shape: %s', async (_case, claims) => {
    await expectRefusal(
      f.verifier.verify(await f.mint({ claims })),
      'missing_claims',
      'Invalid token: a required claim is missing or has the wrong type',
    );
  });

  it.each([
    ['two parts', 'abc.def'],
    ['a header that is not JSON', 'bm90IGpzb24.e30.sig'],
    ['a payload that is not JSON', `${Buffer.from('{"alg":"RS256","kid":"k"}').toString('base64url')}.bm90IGpzb24.sig`],
    ['an iss that is not a URL', forge({ alg: 'RS256', kid: 'k' }, { iss: 'nope', ver: '2.0' }, 'sig')],
    ['an iss that is not a string', forge({ alg: 'RS256', kid: 'k' }, { iss: 42, ver: '2.0' }, 'sig')],
    ['a missing ver', forge({ alg: 'RS256', kid: 'k' }, { iss: 'https://login.microsoftonline.com/x/v2.0' }, 'sig')],
  ])('refuses %s as an invalid token format', async (_case, token) => {
    await expectRefusal(
      f.verifier.verify(token),
      'malformed_token',
      'Invalid token format: send an Entra ID access token (a signed JWT)',
    );
  });

  it('refuses a signature part that is not base64url as an invalid token format', async () => {
    const { header, payload } = parts(await f.mint());
    await expectRefusal(f.verifier.verify(forge(header, payload, '***')), 'malformed_token');
  });

  it('lets an unusable published key surface as an internal error, not as a caller mistake', async () => {
    const idp2 = await startIdentityProvider();
    try {
      (idp2.currentKey.publicJwk as { n?: string }).n = 'AQAB';
      const fx = await authFixture({}, idp2);
      const error = await fx.verifier.verify(await fx.mint()).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toHaveProperty('reason');
    } finally {
      await idp2.close();
    }
  });

  it('refuses an oversized token before decoding it', async () => {
    await expectRefusal(f.verifier.verify('a'.repeat(16 * 1024 + 1)), 'token_too_large');
  });
});

describe('app-specific signing keys', () => {
  it('verifies tokens signed with the app key only when the switch is on', async () => {
    const appKey = idp.appKeys[0]!;
    const on = await authFixture({ appSpecificSigningKeys: true }, idp);
    await expect(on.verifier.verify(await on.mint({ key: appKey }))).resolves.toMatchObject({ kind: 'user' });
    await expectRefusal(on.verifier.verify(await on.mint()), 'unknown_key');
    await expectRefusal(f.verifier.verify(await f.mint({ key: appKey })), 'unknown_key');
  });
});
