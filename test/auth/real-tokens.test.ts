import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createTokenVerifier, type AuthReason, type Principal } from '../../src/auth';
import { SHARED_REAL_TOKENS } from '../helpers/shared';
import { expectRefusal } from './expect-reason';

// Real tokens issued and signed by Microsoft (2013-2024). Without them this suite is skipped, as
// test/global-setup.ts says at the start of the run; in CI, which lays shared/ beside the checkout, it fails.
const SHARED = SHARED_REAL_TOKENS;
const present = existsSync(join(SHARED, 'vectors'));
if (!present && process.env['CI']) throw new Error(`${SHARED} is missing: CI lays shared/ beside the checkout`);

interface Vector {
  readonly name: string;
  readonly kind: 'at' | 'id' | 'b2c' | 'nonce';
  readonly ver: '1.0' | '2.0';
  readonly principal: string;
  readonly iss: string;
  readonly aud: string;
  readonly tid?: string;
  readonly test_clock: number;
  readonly token: string;
  readonly payload: Record<string, unknown>;
}

function loadVectors(): Vector[] {
  if (!present) return [];
  const root = join(SHARED, 'vectors');
  return readdirSync(root)
    .filter((name) => existsSync(join(root, name, 'vector.json')))
    .map((name) => {
      const meta = JSON.parse(readFileSync(join(root, name, 'vector.json'), 'utf8')) as Omit<Vector, 'token'>;
      const token = readFileSync(join(root, name, 'token.txt'), 'utf8').trim();
      const payload = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8'));
      return { ...meta, token, payload };
    });
}

const vectors = loadVectors();
const byKind = (kind: Vector['kind']) => vectors.filter((vector) => vector.kind === kind).map((v) => [v.name, v]);
const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
const NO_TENANT = '00000000-0000-4000-8000-000000000000';

let server: Server;
let authority: string;

/**
 * Entra-shaped discovery for any tenant: the v1 issuer on sts.windows.net, the v2 issuer on the public authority,
 * and every key of the vectors, published as Entra publishes them: without `issuer` in the v1 key set and with the
 * `{tenantid}` template in the v2 key set.
 */
beforeAll(async () => {
  if (!present) return;
  const keys = (
    JSON.parse(readFileSync(join(SHARED, 'keysets/all-vector-keys.jwks.json'), 'utf8')) as {
      keys: Record<string, unknown>[];
    }
  ).keys.map(({ issuer: _issuer, ...key }) => key);
  server = createServer((req, res) => {
    const [tenant, ...rest] = (req.url ?? '/').split('?')[0]!.split('/').filter(Boolean);
    const path = rest.join('/');
    const body =
      path === '.well-known/openid-configuration'
        ? { issuer: `https://sts.windows.net/${tenant}/`, jwks_uri: `${authority}/${tenant}/discovery/keys` }
        : path === 'v2.0/.well-known/openid-configuration'
          ? {
              issuer: `https://login.microsoftonline.com/${tenant}/v2.0`,
              jwks_uri: `${authority}/${tenant}/discovery/v2.0/keys`,
            }
          : path === 'discovery/keys'
            ? { keys }
            : path === 'discovery/v2.0/keys'
              ? { keys: keys.map((key) => ({ ...key, issuer: 'https://login.microsoftonline.com/{tenantid}/v2.0' })) }
              : undefined;
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body ?? { error: 'not_found' }));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  authority = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => (present ? new Promise((done) => server.close(done)) : undefined));

/** A verifier configured as the vector's API would be: its tenant, its audience, the clock at the vector's time. */
function verifierFor(vector: Vector, options: { allowTokensWithoutPermissions?: boolean } = {}) {
  const tenantId = vector.tid ?? GUID.exec(vector.iss)?.[0] ?? NO_TENANT;
  return createTokenVerifier({
    tenantId,
    clientId: GUID.exec(vector.aud)?.[0] ?? NO_TENANT,
    authorityHost: authority,
    audiences: [vector.aud],
    now: () => vector.test_clock * 1000,
    tokenCacheMaxEntries: 0,
    ...options,
  });
}

const describeIf = present ? describe : describe.skip;

describeIf('real Microsoft-signed tokens', () => {
  it('has the vectors the README describes', () => {
    expect(byKind('at')).toHaveLength(18);
    expect(byKind('id')).toHaveLength(9);
    expect(byKind('b2c')).toHaveLength(3);
    expect(byKind('nonce')).toHaveLength(2);
  });

  it.each(byKind('at'))('accepts the access token %s with its claims read right', async (_name, vector) => {
    const v = vector as Vector;
    const claims = v.payload;
    const withoutPermissions = claims['scp'] === undefined && claims['roles'] === undefined;
    // Two app tokens carry no app roles: an API that authorises them by an access list opts in.
    const principal: Principal = await verifierFor(v, { allowTokensWithoutPermissions: withoutPermissions }).verify(
      v.token,
    );
    const appId = v.ver === '2.0' ? claims['azp'] : claims['appid'];
    const overage = Object.hasOwn((claims['_claim_names'] as object | undefined) ?? {}, 'groups');
    const username =
      v.principal === 'app'
        ? appId
        : (claims['preferred_username'] ?? claims['upn'] ?? claims['unique_name'] ?? claims['email'] ?? claims['oid']);
    expect(principal).toEqual({
      kind: v.principal,
      tenantId: claims['tid'],
      objectId: claims['oid'] ?? null,
      subject: claims['sub'] ?? null,
      username,
      employeeId: null,
      name: claims['name'] ?? null,
      scopes: typeof claims['scp'] === 'string' ? claims['scp'].split(' ') : [],
      roles: claims['roles'] ?? [],
      appId,
      tokenVersion: v.ver,
      isGuest: expect.any(Boolean),
      expiresAt: claims['exp'],
      authContexts: claims['acrs'] ?? [],
      clientCapabilities: claims['xms_cc'] ?? [],
      // None of them is an agent's: ordinary tokens read as before Agent ID.
      agent: null,
      actedByAgent: false,
      agentBlueprintId: null,
      groups: overage ? [] : (claims['groups'] ?? []),
      groupsOverage: overage,
    });
    if (withoutPermissions) await expectRefusal(verifierFor(v).verify(v.token), 'no_permissions');
  });

  it.each(byKind('at'))('refuses %s with one byte changed (a digit of iat) as a bad signature', async (_name, v) => {
    const vector = v as Vector;
    const [header, payload, signature] = vector.token.split('.') as [string, string, string];
    const text = Buffer.from(payload, 'base64url').toString('utf8');
    const changed = text.replace(/("iat":\d*)(\d)/, (_m, head: string, digit: string) => `${head}${(+digit + 1) % 10}`);
    expect(changed).not.toBe(text);
    const tampered = `${header}.${Buffer.from(changed).toString('base64url')}.${signature}`;
    await expectRefusal(verifierFor(vector, { allowTokensWithoutPermissions: true }).verify(tampered), 'bad_signature');
  });

  it('refuses each access token an hour after it expired, and for another audience', async () => {
    for (const [, v] of byKind('at')) {
      const vector = v as Vector;
      const late = { ...vector, test_clock: (vector.payload['exp'] as number) + 3600 };
      await expectRefusal(verifierFor(late, { allowTokensWithoutPermissions: true }).verify(vector.token), 'expired');
      const other = { ...vector, aud: 'api://00000000-0000-4000-8000-00000000beef' };
      await expectRefusal(
        verifierFor(other, { allowTokensWithoutPermissions: true }).verify(vector.token),
        'wrong_audience',
      );
    }
  });

  const refusals: [Vector['kind'], AuthReason][] = [
    ['id', 'not_access_token'],
    ['b2c', 'b2c_not_supported'],
    ['nonce', 'graph_token'],
  ];
  for (const [kind, reason] of refusals) {
    it.each(byKind(kind))(`refuses the ${kind} token %s with ${reason}`, async (_name, v) => {
      const vector = v as Vector;
      await expectRefusal(verifierFor(vector, { allowTokensWithoutPermissions: true }).verify(vector.token), reason);
    });
  }

  it('reads the claims of a guest from another tenant right (idp live.com)', async () => {
    const vector = vectors.find((v) => v.name === 'v1-user-aadgraph-msaguest-alerta-2019') as Vector;
    const principal = await verifierFor(vector).verify(vector.token);
    expect(principal).toMatchObject({ kind: 'user', isGuest: true, username: 'live.com#nfsatterly@gmail.com' });
  });
});
