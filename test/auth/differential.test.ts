import fc from 'fast-check';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { AuthError, type AuthReason } from '../../src/auth';
import { startIdentityProvider, type IdentityProvider } from '../../src/dev/identity-provider';
import { authFixture, type AuthFixture } from '../helpers/auth';
import { objectText, signRaw } from '../helpers/sign';

/**
 * The product checks signatures with its own JWS code (parse, key lookup, node:crypto on a thread), not with jose's
 * jwtVerify. This test keeps that code honest: valid tokens and thousands of mutations of them go to both, and
 * - every token the product accepts, jose's jwtVerify (same key set, issuers, audiences, clock and skew) accepts;
 * - every token jose accepts and the product refuses is refused for one of the stricter Entra checks below.
 */
const STRICTER: Readonly<Partial<Record<AuthReason, string>>> = {
  malformed_token:
    'strict UTF-8 and no byte order mark before the JSON (RFC 7519 §7.2, RFC 8259 §8.1), where jose decodes ' +
    "leniently; 'ver' must be 1.0 or 2.0 and 'iss' a URL",
  missing_key_id: "a key is named by 'kid' (or 'x5t'); jose tries the only key of the set",
  unsupported_header: "any 'crit' header is refused; jose accepts the extensions it knows",
  graph_token: "a 'nonce' header marks a Graph token, which only Graph can verify",
  version_mismatch: "'ver' must agree with the form of the issuer",
  invalid_tenant: "'tid' must be a tenant GUID",
  tenant_not_allowed: "'tid' must be the configured tenant",
  not_access_token: "an access token names its client ('azp' in v2, 'appid' in v1)",
  unknown_caller_type: 'the token must be a delegated user token or an app-only token',
  missing_claims: "'oid', 'sub', 'scp' and 'roles' must have their types, and a user token its 'oid'",
  no_permissions: "an app token must carry 'roles'",
  unsupported_issuer: 'External ID tokens are refused unless the tenant is configured as External ID',
  b2c_not_supported: 'B2C tokens are refused',
  key_issuer_mismatch: "a v2 key's own 'issuer' must match the token's",
};

let idp: IdentityProvider;
let f: AuthFixture;
let jwks: ReturnType<typeof createLocalJWKSet>;
let valid: string;

beforeAll(async () => {
  idp = await startIdentityProvider();
  f = await authFixture({ tokenCacheMaxEntries: 0 }, idp);
  await f.verifier.start();
  jwks = createLocalJWKSet({ keys: [idp.currentKey.publicJwk] });
  valid = await f.mint();
});
afterAll(() => {
  f.verifier.stop();
  return idp.close();
});

type Verdict = { accepted: true } | { accepted: false; reason: string };

async function product(token: string): Promise<Verdict> {
  try {
    await f.verifier.verify(token);
    return { accepted: true };
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    return { accepted: false, reason: error.reason };
  }
}

async function jose(token: string): Promise<Verdict> {
  try {
    await jwtVerify(token, jwks, {
      algorithms: ['RS256'],
      issuer: [idp.issuers.v2(idp.tenantId), idp.issuers.v1(idp.tenantId)],
      audience: [`api://${idp.clientId}`, idp.clientId],
      currentDate: new Date(f.clock.ms),
      clockTolerance: 300,
      requiredClaims: ['exp'],
    });
    return { accepted: true };
  } catch (error) {
    return { accepted: false, reason: (error as { code?: string }).code ?? String(error) };
  }
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const ODD = [' ', '=', '+', '/', '\t', '\n', '.', '\uFEFF', '%', '\0', 'é', '\\', '"', '~'];

/** Mutations of a signed token's text, as an attacker without the key can make them. */
function textMutation(token: string): fc.Arbitrary<string> {
  const [h, p, s] = token.split('.') as [string, string, string];
  const at = fc.nat({ max: token.length - 1 });
  const char = fc.oneof(fc.constantFrom(...BASE64URL), fc.constantFrom(...ODD));
  return fc.oneof(
    fc.tuple(at, char).map(([i, c]) => token.slice(0, i) + c + token.slice(i + 1)),
    fc.tuple(at, char).map(([i, c]) => token.slice(0, i) + c + token.slice(i)),
    at.map((i) => token.slice(0, i) + token.slice(i + 1)),
    at.map((i) => token.slice(0, i)),
    at.map((i) => {
      const c = token[i] as string;
      return token.slice(0, i) + (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) + token.slice(i + 1);
    }),
    fc.constantFrom(
      `${p}.${h}.${s}`,
      `${h}.${s}.${p}`,
      `${s}.${p}.${h}`,
      `${h}.${p}.${s}.${s}`,
      `${h}.${h}.${p}.${s}`,
      `${h}${p}.${s}`,
      `${h}.${p}`,
      `${h}..${s}`,
      `${h}=.${p}.${s}`,
      `${h}.${p}==.${s}`,
      `${h}.${p}.${s}=`,
      ` ${token}`,
      `${token} `,
      `${token}\n`,
      `\uFEFF${token}`,
      `${h}. ${p}.${s}`,
      token.replace(/-/g, '+').replace(/_/g, '/'),
      `${Buffer.from(Buffer.from(h, 'base64url').toString('utf8')).toString('base64')}.${p}.${s}`,
    ),
  );
}

/** Header and payload JSON texts that only a key holder could sign: the parser's corners, past the signature. */
function signedMutation(): fc.Arbitrary<string> {
  const header = { alg: 'RS256', typ: 'JWT', kid: idp.currentKey.kid };
  const now = f.clock.seconds;
  const payload = JSON.parse(Buffer.from(valid.split('.')[1] as string, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
  const entries = (object: Record<string, unknown>) => Object.entries(object);
  const headerExtras = fc.array(
    fc.constantFrom<[string, unknown]>(
      ['alg', 'none'],
      ['alg', 'HS256'],
      ['alg', 'RS256'],
      ['alg', 'rs256'],
      ['kid', 'other'],
      ['kid', idp.currentKey.kid],
      ['kid', ''],
      ['x5t', idp.currentKey.kid],
      ['typ', 'at+jwt'],
      ['typ', 7],
      ['crit', ['b64']],
      ['crit', []],
      ['b64', false],
      ['zip', 'DEF'],
      ['cty', 'JWT'],
      ['nonce', 'abc'],
      ['jku', 'https://evil.example/keys'],
      ['jwk', idp.currentKey.publicJwk],
      ['__proto__', { alg: 'none' }],
    ),
    { maxLength: 3 },
  );
  const claimExtras = fc.array(
    fc.constantFrom<[string, unknown]>(
      ['aud', 'api://someone-else'],
      ['aud', [idp.clientId, 'other']],
      ['aud', []],
      ['aud', idp.clientId],
      ['iss', idp.issuers.v1(idp.tenantId)],
      ['iss', `${idp.issuers.v2(idp.tenantId)}/`],
      ['iss', 'https://evil.b2clogin.com/x/v2.0/'],
      ['ver', '1.0'],
      ['ver', 2],
      ['tid', '0f0e0d0c-0b0a-4909-8807-060504030201'],
      ['tid', 'not-a-guid'],
      ['exp', now - 301],
      ['exp', now - 299],
      ['exp', String(now + 3600)],
      ['exp', 1e308],
      ['exp', (now + 60.5) as number],
      ['nbf', now + 301],
      ['nbf', now + 299],
      ['nbf', 'soon'],
      ['iat', 'then'],
      ['iat', now + 99999],
      ['azp', undefined],
      ['scp', undefined],
      ['scp', ['access_as_user']],
      ['roles', 'Hello.Read.All'],
      ['roles', ['Hello.Read.All']],
      ['oid', undefined],
      ['oid', 5],
      ['sub', undefined],
      ['idtyp', 'app'],
      ['idtyp', 'device'],
      ['tfp', 'B2C_1_signin'],
      ['acr', 'b2c_1_signin'],
      ['name', '\ud800'],
      ['__proto__', { scp: 'admin' }],
      ['constructor', 'x'],
    ),
    { maxLength: 4 },
  );
  const encoding = fc.constantFrom('plain', 'bom', 'spaces', 'escaped', 'invalid-utf8', 'overlong', 'trailing');
  return fc.tuple(headerExtras, claimExtras, encoding, fc.boolean()).map(([hx, cx, how, toHeader]) => {
    let headerText = objectText([...entries(header), ...hx]);
    let payloadText = objectText([...entries(payload), ...cx.filter(([, value]) => value !== undefined)]);
    for (const [name, value] of cx) if (value === undefined) payloadText = dropClaim(payloadText, name);
    const encode = (text: string): Buffer => {
      switch (how) {
        case 'bom':
          return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]);
        case 'spaces':
          return Buffer.from(` \n${text}\t `);
        case 'escaped':
          return Buffer.from(text.replace('"RS256"', '"RS\\u0032\\u00356"').replace('"2.0"', '"\\u0032.0"'));
        case 'invalid-utf8':
          return Buffer.concat([
            Buffer.from(text.slice(0, -1)),
            Buffer.from(',"x":"'),
            Buffer.from([0xff, 0xfe]),
            Buffer.from('"}'),
          ]);
        case 'overlong':
          return Buffer.concat([
            Buffer.from(text.slice(0, -1)),
            Buffer.from(',"x":"'),
            Buffer.from([0xc0, 0xaf]),
            Buffer.from('"}'),
          ]);
        case 'trailing':
          return Buffer.from(`${text} x`);
        default:
          return Buffer.from(text);
      }
    };
    if (toHeader) headerText = encode(headerText).toString('latin1');
    const headerBytes = toHeader ? Buffer.from(headerText, 'latin1') : Buffer.from(headerText);
    const payloadBytes = toHeader ? Buffer.from(payloadText) : encode(payloadText);
    return signRaw(idp.currentKey, headerBytes, payloadBytes);
  });
}

function dropClaim(text: string, name: string): string {
  const object = JSON.parse(text) as Record<string, unknown>;
  delete object[name];
  return JSON.stringify(object);
}

describe('the product against jose on the same tokens', () => {
  it('accepts the valid token as jose does', async () => {
    expect(await product(valid)).toEqual({ accepted: true });
    expect(await jose(valid)).toEqual({ accepted: true });
  });

  it('never accepts what jose refuses, and refuses what jose accepts only for a documented stricter check', async () => {
    const differences = new Map<string, number>();
    let bothAccepted = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(textMutation(valid), signedMutation()), async (token) => {
        const [ours, theirs] = await Promise.all([product(token), jose(token)]);
        if (ours.accepted) {
          expect({ token, jose: theirs }).toEqual({ token, jose: { accepted: true } });
          bothAccepted += 1;
        } else if (theirs.accepted) {
          expect(Object.keys(STRICTER)).toContain(ours.reason);
          differences.set(ours.reason, (differences.get(ours.reason) ?? 0) + 1);
        }
      }),
      { numRuns: 4000, seed: 20261202 },
    );
    // The mutations reached both verdicts: many tokens passed both, and several stricter checks were met.
    expect(bothAccepted).toBeGreaterThan(100);
    expect(differences.size).toBeGreaterThanOrEqual(6);
  });
});
