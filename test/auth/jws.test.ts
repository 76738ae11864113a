import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { compactVerify, importJWK } from 'jose';
import { startIdentityProvider, type IdentityProvider } from '../../src/dev/identity-provider';
import { authFixture, type AuthFixture } from '../helpers/auth';
import { forge, parts } from '../helpers/forge';
import { signRaw } from '../helpers/sign';
import { expectRefusal } from './expect-reason';

let idp: IdentityProvider;
let f: AuthFixture;
let valid: string;

beforeAll(async () => {
  idp = await startIdentityProvider();
  f = await authFixture({}, idp);
  valid = await f.mint();
});
afterAll(() => idp.close());

describe('compact JWS parsing', () => {
  const { header, payload, signature } = (() => {
    const b = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    // A payload that passes the checks before the key lookup, so only the format check can refuse these tokens.
    const claims = { ver: '2.0', iss: 'https://login.microsoftonline.com/00000000-0000-4000-8000-000000000000/v2.0' };
    // Whole 3-byte groups (JSON allows the trailing spaces), so one more character would decode to nothing.
    const json = JSON.stringify(claims);
    const payload = Buffer.from(json.padEnd(Math.ceil(json.length / 3) * 3)).toString('base64url');
    return { header: b({ alg: 'RS256', kid: 'k' }), payload, signature: 'c2ln' };
  })();

  it.each([
    ['four parts', `${header}.${payload}.${signature}.x`],
    ['an empty header', `.${payload}.${signature}`],
    ['an empty payload', `${header}..${signature}`],
    ['a header with a character outside base64url', `${header.slice(0, -1)}+.${payload}.${signature}`],
    ['a header with base64 padding', `${header}=.${payload}.${signature}`],
    ['a payload of impossible length', `${header}.${payload}A.${signature}`],
    ['a header that is a JSON array', `${Buffer.from('[1]').toString('base64url')}.${payload}.${signature}`],
    ['a payload that is JSON null', `${header}.${Buffer.from('null').toString('base64url')}.${signature}`],
    ['a signature with a space', `${header}.${payload}.c2 ln`],
  ])('refuses %s as an invalid token format', async (_case, token) => {
    await expectRefusal(
      f.verifier.verify(token),
      'malformed_token',
      'Invalid token format: send an Entra ID access token (a signed JWT)',
    );
  });

  it('decodes header and payload as strict UTF-8: an invalid sequence or a byte order mark is refused, even when signed', async () => {
    const header = JSON.stringify({ alg: 'RS256', kid: idp.currentKey.kid });
    const claims = JSON.stringify(parts(valid).payload);
    const withBytes = (bytes: number[]) =>
      Buffer.concat([Buffer.from(`${claims.slice(0, -1)},"name":"`), Buffer.from(bytes), Buffer.from('"}')]);
    const cases: [string, Buffer | string, Buffer | string][] = [
      ['payload is not UTF-8', header, withBytes([0xff, 0xfe])],
      ['payload is not UTF-8', header, withBytes([0xc0, 0xaf])],
      ['payload is not UTF-8', header, withBytes([0xed, 0xa0, 0x80])],
      [
        'header is not UTF-8',
        Buffer.concat([Buffer.from(header.slice(0, -1)), Buffer.from(',"x":"\xff"}', 'latin1')]),
        claims,
      ],
      ['payload is not JSON', header, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(claims)])],
    ];
    for (const [detail, h, p] of cases) {
      const error = await expectRefusal(f.verifier.verify(signRaw(idp.currentKey, h, p)), 'malformed_token');
      expect(error.detail).toBe(detail);
    }
    // Valid UTF-8 outside ASCII is fine.
    const named = signRaw(idp.currentKey, header, withBytes([...Buffer.from('Zoë 名前 😀')]));
    expect((await f.verifier.verify(named)).name).toBe('Zoë 名前 😀');
  });

  it('refuses a valid token whose signature was dropped as a bad signature, not as a format error', async () => {
    const { header: h, payload: p } = parts(valid);
    await expectRefusal(f.verifier.verify(forge(h, p)), 'bad_signature');
  });
});

describe('published keys', () => {
  async function refusalWithPublished(change: (jwk: Record<string, unknown>) => void): Promise<unknown> {
    const provider = await startIdentityProvider();
    try {
      change(provider.currentKey.publicJwk as Record<string, unknown>);
      const fx = await authFixture({}, provider);
      return await fx.verifier.verify(await fx.mint()).catch((caught: unknown) => caught);
    } finally {
      await provider.close();
    }
  }

  it.each([
    ['named for another algorithm', { alg: 'RS384' }],
    ['limited to other operations', { key_ops: ['encrypt'] }],
    ['of another key type', { kty: 'EC' }],
  ])('ignores a key %s, so its tokens are signed by an unknown key', async (_case, changes) => {
    const error = await refusalWithPublished((jwk) => Object.assign(jwk, changes));
    expect(error).toMatchObject({ reason: 'unknown_key' });
  });

  it('uses a key whose key_ops include verify', async () => {
    const error = await refusalWithPublished((jwk) => Object.assign(jwk, { key_ops: ['verify'] }));
    expect(error).toMatchObject({ kind: 'user' });
  });

  it('treats a published RSA key shorter than 2048 bits as a provider fault, never as a valid signer', async () => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    const error = await refusalWithPublished((jwk) => Object.assign(jwk, { n: weak.n, e: weak.e }));
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toHaveProperty('reason');
    expect((error as Error).message).toMatch(/has 1024 bits; RS256 needs 2048$/);
  });
});

describe('signature checks agree with jose', () => {
  const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

  it('accepts no token that jose refuses, over random one-character changes of a valid token', async () => {
    const key = await importJWK(idp.currentKey.publicJwk, 'RS256');
    const joseAccepts = (token: string) =>
      compactVerify(token, key, { algorithms: ['RS256'] }).then(
        () => true,
        () => false,
      );
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: valid.length - 1 }),
        fc.constantFrom(...BASE64URL, '.', '=', '+', '/', ' '),
        async (position, character) => {
          const token = valid.slice(0, position) + character + valid.slice(position + 1);
          const ours = await f.verifier.verify(token).then(
            () => true,
            () => false,
          );
          if (ours) expect(await joseAccepts(token)).toBe(true);
          // Only a change that leaves the signed bytes and the signature's bytes alone can be accepted.
          if (token !== valid && ours)
            expect(token.slice(0, token.lastIndexOf('.'))).toBe(valid.slice(0, valid.lastIndexOf('.')));
        },
      ),
      { numRuns: 400 },
    );
  });
});
