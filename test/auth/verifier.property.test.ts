import fc from 'fast-check';
import { AuthError, type Principal } from '../../src/auth';
import { startIdentityProvider, type IdentityProvider } from '../../src/dev/identity-provider';
import { authFixture, type AuthFixture } from '../helpers/auth';
import { objectText, signRaw } from '../helpers/sign';

let idp: IdentityProvider;
let f: AuthFixture;

beforeAll(async () => {
  idp = await startIdentityProvider();
  f = await authFixture({ tokenCacheMaxEntries: 0 }, idp);
  await f.verifier.start();
});
afterAll(() => {
  f.verifier.stop();
  return idp.close();
});

const TRICKY_NAMES = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'length'];

/** JSON values of every type, with the shapes that trip careless code: objects posing as strings, huge values. */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(
    null,
    true,
    0,
    -1,
    1e308,
    -1e308,
    Number.MAX_SAFE_INTEGER + 2,
    '',
    [],
    {},
    [null],
    { toString: 0 },
    { valueOf: 'x', toString: 'y' },
    { length: 1e9 },
    ['RS256'],
    { __proto__: null },
  ),
  fc.string({ maxLength: 2000 }),
  fc.constant('x'.repeat(9000)),
  fc.integer({ min: 1, max: 30 }).map((depth) => {
    let value: unknown = 'deep';
    for (let i = 0; i < depth; i += 1) value = i % 2 ? [value] : { a: value };
    return value;
  }),
);

function claimsText(base: Record<string, unknown>, names: readonly string[]): fc.Arbitrary<string> {
  const changes = fc.array(fc.tuple(fc.constantFrom(...names, ...TRICKY_NAMES), hostileValue), { maxLength: 6 });
  return fc.oneof(
    // Valid claims with some replaced, removed or given a second time (duplicate keys stay in the text).
    fc
      .tuple(changes, fc.subarray(Object.keys(base)))
      .map(([changed, removed]) =>
        objectText([...Object.entries(base).filter(([name]) => !removed.includes(name)), ...changed]),
      ),
    // Anything at all, objects or not.
    hostileValue.map((value) => JSON.stringify(value) ?? 'null'),
  );
}

describe('the verifier under hostile header and payload JSON', () => {
  it('either returns a well-formed caller or throws its own AuthError, whatever the JSON', async () => {
    const now = f.clock.seconds;
    const baseHeader = { alg: 'RS256', typ: 'JWT', kid: idp.currentKey.kid };
    const basePayload = {
      aud: idp.clientId,
      iss: idp.issuers.v2(idp.tenantId),
      iat: now,
      nbf: now,
      exp: now + 3600,
      tid: idp.tenantId,
      ver: '2.0',
      oid: '3f1e2d4c-5b6a-4789-8a0b-1c2d3e4f5a6b',
      sub: 'pairwise',
      azp: 'c9d8e7f6-1a2b-4c3d-9e8f-0a1b2c3d4e5f',
      scp: 'access_as_user',
      preferred_username: 'ada@contoso.example',
    };
    const headerNames = ['alg', 'kid', 'x5t', 'crit', 'nonce', 'typ', 'jku', 'jwk', 'x5u', 'b64'];
    const claimNames = [
      ...Object.keys(basePayload),
      'roles',
      'idtyp',
      'appid',
      'tfp',
      'acr',
      'employeeid',
      'upn',
      'unique_name',
      'email',
      'name',
      'acct',
      'idp',
    ];
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(
        claimsText(baseHeader, headerNames),
        claimsText(basePayload, claimNames),
        async (header, payload) => {
          const token = signRaw(idp.currentKey, header, payload);
          let principal: Principal;
          try {
            principal = await f.verifier.verify(token);
          } catch (error) {
            if (!(error instanceof AuthError)) throw error;
            expect(error.status === 400 || error.status === 401).toBe(true);
            return;
          }
          accepted += 1;
          expect(Object.isFrozen(principal)).toBe(true);
          expect(typeof principal.username).toBe('string');
          expect(typeof principal.appId).toBe('string');
          expect(['user', 'app']).toContain(principal.kind);
          expect(principal.scopes.every((scope) => typeof scope === 'string')).toBe(true);
          expect(principal.roles.every((role) => typeof role === 'string')).toBe(true);
        },
      ),
      { numRuns: 600, seed: 20261202 },
    );
    // The property saw accepted tokens too, so its success path was exercised.
    expect(accepted).toBeGreaterThan(0);
  });

  it('refuses a header whose alg is an object posing as a string as unsupported_algorithm', async () => {
    const token = signRaw(idp.currentKey, '{"alg":{"toString":0},"kid":"x"}', '{}');
    await expect(f.verifier.verify(token)).rejects.toMatchObject({
      reason: 'unsupported_algorithm',
      detail: 'alg object',
      status: 401,
    });
  });
});
