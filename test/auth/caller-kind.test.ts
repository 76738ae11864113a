import { hasAnyAppRole, hasAnyScope } from '../../src/auth';
import { startIdentityProvider, type IdentityProvider } from '../../src/dev/identity-provider';
import { authFixture, type AuthFixture } from '../helpers/auth';
import { expectRefusal } from './expect-reason';

// Shaped like Entra ID's tokens: an ID token has the client itself as audience, a nonce and no azp/appid;
// app-only tokens have oid == sub; a managed identity's token is v1 with idtyp app.
const MANAGED_IDENTITY = 'cc67c90d-d9e9-40d2-b511-9d52d67682ab';
const MANAGED_IDENTITY_CLIENT = '064aaf57-30af-41f0-840a-0e21ed149946';

let idp: IdentityProvider;
let f: AuthFixture;

beforeAll(async () => {
  idp = await startIdentityProvider();
});
afterAll(() => idp.close());
beforeEach(async () => {
  f = await authFixture({ tokenCacheMaxEntries: 0 }, idp);
});

describe('only access tokens', () => {
  it('refuses a v2 ID token of an app registration shared by a SPA and its API, even with app roles', async () => {
    const idToken = await f.mint({
      claims: {
        scp: undefined,
        azp: undefined,
        nonce: '53dc4db4-ca9c-414f-b4ca-ee3c2b1d4279',
        roles: ['Hello.Read.All'],
        aio: 'AWQAm/8TAAAA',
        rh: '0.AQ4AvwAAAAA.',
      },
    });
    const error = await expectRefusal(
      f.verifier.verify(idToken),
      'not_access_token',
      "Invalid token: it names no client application ('azp' or 'appid'), so it is not an access token (an ID token?); send an access token for this API",
    );
    expect(error).toMatchObject({ status: 401, category: 'invalid_token', detail: "no 'azp' claim" });
  });

  it('refuses a v1 ID token (no appid)', async () => {
    const idToken = await f.mint({
      version: '1.0',
      audience: idp.clientId,
      claims: { scp: undefined, appid: undefined, nonce: 'n-0S6_WzA2Mj' },
    });
    const error = await expectRefusal(f.verifier.verify(idToken), 'not_access_token');
    expect(error.detail).toBe("no 'appid' claim");
  });

  it('reads the client id of a version from its own claim only (azp in v2, appid in v1)', async () => {
    await expectRefusal(
      f.verifier.verify(await f.mint({ claims: { azp: undefined, appid: idp.clientId } })),
      'not_access_token',
    );
    await expectRefusal(
      f.verifier.verify(await f.mint({ version: '1.0', claims: { appid: undefined, azp: idp.clientId } })),
      'not_access_token',
    );
    await expectRefusal(f.verifier.verify(await f.mint({ claims: { azp: '' } })), 'not_access_token');
    await expectRefusal(f.verifier.verify(await f.mint({ claims: { azp: 42 } })), 'not_access_token');
  });
});

describe('apps are apps', () => {
  it('accepts a v1 managed-identity token (idtyp app, sub = oid) as an app', async () => {
    const token = await f.mint({
      version: '1.0',
      kind: 'app',
      claims: {
        idtyp: 'app',
        oid: MANAGED_IDENTITY,
        sub: MANAGED_IDENTITY,
        appid: MANAGED_IDENTITY_CLIENT,
        appidacr: '2',
        xms_mirid:
          '/subscriptions/0000/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id',
      },
    });
    const principal = await f.verifier.verify(token);
    expect(principal).toMatchObject({
      kind: 'app',
      tokenVersion: '1.0',
      appId: MANAGED_IDENTITY_CLIENT,
      username: MANAGED_IDENTITY_CLIENT,
      objectId: MANAGED_IDENTITY,
      subject: MANAGED_IDENTITY,
      roles: ['Hello.Read.All'],
    });
  });

  it('accepts a v2 client-credentials token without idtyp as an app because oid equals sub', async () => {
    const principal = await f.verifier.verify(await f.mint({ kind: 'app', claims: { azpacr: '1' } }));
    expect(principal).toMatchObject({ kind: 'app', appId: 'c9d8e7f6-1a2b-4c3d-9e8f-0a1b2c3d4e5f' });
  });

  it('accepts an app token that carries neither oid nor sub (no user can be in it), with objectId null', async () => {
    const principal = await f.verifier.verify(
      await f.mint({ kind: 'app', claims: { oid: undefined, sub: undefined } }),
    );
    expect(principal).toMatchObject({ kind: 'app', objectId: null, subject: null });
  });

  it('keeps a user token with app-role assignments a user: its roles are no app permissions', async () => {
    const principal = await f.verifier.verify(await f.mint({ roles: ['Hello.Read.All'], claims: { idtyp: 'user' } }));
    expect(principal).toMatchObject({ kind: 'user', roles: ['Hello.Read.All'], scopes: ['access_as_user'] });
    expect(hasAnyAppRole(principal, ['Hello.Read.All'])).toBe(false);
    expect(hasAnyScope(principal, ['access_as_user'])).toBe(true);
  });

  it('refuses a token without scp whose oid differs from its sub when idtyp is absent (a user, not an app)', async () => {
    const token = await f.mint({ roles: ['Hello.Read.All'], claims: { scp: undefined } });
    const error = await expectRefusal(
      f.verifier.verify(token),
      'unknown_caller_type',
      'Invalid token: it is neither a delegated user token (scp) nor an app-only token; request an access token for this API',
    );
    expect(error.status).toBe(401);
  });

  it.each([
    ['idtyp user without scp', { idtyp: 'user', scp: undefined, roles: ['Hello.Read.All'] }],
    ['idtyp app with scp', { idtyp: 'app', scp: 'access_as_user' }],
    ['an unknown idtyp', { idtyp: 'device' }],
    ['idtyp of another type', { idtyp: ['app'] }],
  ])('refuses %s', async (_name, claims) => {
    await expectRefusal(f.verifier.verify(await f.mint({ claims })), 'unknown_caller_type');
  });

  it('refuses a user token without oid', async () => {
    const error = await expectRefusal(
      f.verifier.verify(await f.mint({ claims: { oid: undefined } })),
      'missing_claims',
    );
    expect(error.detail).toBe("'oid' is missing");
  });

  it.each([
    ['oid', { oid: 7 }, "'oid' is not a string"],
    ['oid', { oid: '' }, "'oid' is not a string"],
    ['sub', { sub: { id: 1 } }, "'sub' is not a string"],
  ])('refuses a token whose %s has the wrong type', async (_name, claims, detail) => {
    const error = await expectRefusal(f.verifier.verify(await f.mint({ claims })), 'missing_claims');
    expect(error.detail).toBe(detail);
  });
});

describe('step-up claims', () => {
  it('reads the authentication contexts (acrs) and client capabilities (xms_cc) a CAE-capable sign-in carries', async () => {
    const principal = await f.verifier.verify(await f.mint({ claims: { acrs: ['c1', 'c7'], xms_cc: ['cp1'] } }));
    expect(principal).toMatchObject({ authContexts: ['c1', 'c7'], clientCapabilities: ['cp1'] });
  });

  it('reads none from a token without them, and ignores what is not a list of strings', async () => {
    expect(await f.verifier.verify(await f.mint())).toMatchObject({ authContexts: [], clientCapabilities: [] });
    const odd = await f.verifier.verify(await f.mint({ claims: { acrs: 'c1', xms_cc: ['cp1', 7, null] } }));
    expect(odd).toMatchObject({ authContexts: [], clientCapabilities: ['cp1'] });
  });
});
