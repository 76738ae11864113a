import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSigningKey } from '../../src/dev/signing-key';
import { startIdentityProvider, type IdentityProvider } from '../../src/dev/identity-provider';
import { authFixture } from '../helpers/auth';
import { expectRefusal } from './expect-reason';

let idp: IdentityProvider;
beforeEach(async () => {
  idp = await startIdentityProvider();
});
afterEach(() => idp.close());

const keyFetches = () => idp.requestCount('/discovery/v2.0/keys');

describe('key lifecycle', () => {
  it('loads discovery and keys on start and reports ready with the key age', async () => {
    const f = await authFixture({ acceptedVersions: ['2.0'] }, idp);
    expect(f.verifier.ready()).toBe(false);
    expect(f.verifier.keyAgeSeconds()).toBeNull();
    await f.verifier.start();
    expect(f.verifier.ready()).toBe(true);
    expect(idp.requestCount('/v2.0/.well-known/openid-configuration')).toBe(1);
    expect(keyFetches()).toBe(1);
    f.clock.advance(42);
    expect(f.verifier.keyAgeSeconds()).toBe(42);
    f.verifier.stop();
  });

  it('loads v1 metadata too when v1 tokens are accepted', async () => {
    const f = await authFixture({}, idp);
    await f.verifier.start();
    expect(idp.requestCount(`/${idp.tenantId}/.well-known/openid-configuration`)).toBe(1);
    expect(idp.requestCount('/discovery/keys')).toBe(1);
    f.verifier.stop();
  });

  it('fetches keys once on demand when verify comes before start, even for concurrent requests', async () => {
    const f = await authFixture({ acceptedVersions: ['2.0'] }, idp);
    const tokens = await Promise.all(Array.from({ length: 5 }, () => f.mint()));
    const principals = await Promise.all(tokens.map((token) => f.verifier.verify(token)));
    expect(principals.map((p) => p.kind)).toEqual(['user', 'user', 'user', 'user', 'user']);
    expect(keyFetches()).toBe(1);
  });

  it('refetches at most once per cooldown however many unknown kids arrive', async () => {
    const f = await authFixture({ acceptedVersions: ['2.0'], keyRefetchCooldownSeconds: 30 }, idp);
    await f.verifier.start();
    const flood = await Promise.all(Array.from({ length: 40 }, async () => f.mint({ header: { kid: randomUUID() } })));
    f.clock.advance(31);
    const outcomes = await Promise.allSettled(flood.map((token) => f.verifier.verify(token)));
    expect(
      outcomes.every((o) => o.status === 'rejected' && (o.reason as { reason: string }).reason === 'unknown_key'),
    ).toBe(true);
    expect(keyFetches()).toBe(2);
    for (const token of flood.slice(0, 10)) await expectRefusal(f.verifier.verify(token), 'unknown_key');
    expect(keyFetches()).toBe(2);
    f.clock.advance(31);
    await expectRefusal(f.verifier.verify(flood[0]!), 'unknown_key');
    expect(keyFetches()).toBe(3);
    f.verifier.stop();
  });

  it('accepts tokens signed with a rotated key without a restart', async () => {
    const f = await authFixture({ acceptedVersions: ['2.0'] }, idp);
    await f.verifier.start();
    const before = await f.mint();
    await idp.rotate({ retire: true });
    f.clock.advance(31);
    const after = await f.mint();
    await expect(f.verifier.verify(after)).resolves.toMatchObject({ kind: 'user' });
    expect(keyFetches()).toBe(2);
    await expectRefusal(f.verifier.verify(before), 'unknown_key');
    f.verifier.stop();
  });

  it('keeps serving the last good keys while the provider is down, logs the outage and recovers', async () => {
    const f = await authFixture({ acceptedVersions: ['2.0'], keyMaxStaleSeconds: 3600 }, idp);
    await f.verifier.start();
    idp.setAvailable(false);
    f.clock.advance(600);
    await expectRefusal(f.verifier.verify(await f.mint({ header: { kid: 'rotated-away' } })), 'unknown_key');
    await expect(f.verifier.verify(await f.mint())).resolves.toMatchObject({ kind: 'user' });
    expect(f.verifier.ready()).toBe(true);
    const outage = f.logger.lines.find((line) => line.details['event'] === 'signing_keys_refresh_failed');
    expect(outage).toMatchObject({
      level: 'warn',
      message: 'Signing key refresh failed; serving the last good keys',
      details: { source: 'v2.0', keyAgeSeconds: 600, servingLastGoodKeys: true },
    });
    idp.setAvailable(true);
    f.clock.advance(31);
    await expectRefusal(f.verifier.verify(await f.mint({ header: { kid: 'still-unknown' } })), 'unknown_key');
    expect(f.logger.lines.some((line) => line.details['event'] === 'signing_keys_recovered')).toBe(true);
    f.verifier.stop();
  });

  it('says why the provider could not be reached: refused connection, TLS failure, timeout', async () => {
    const closed = await startIdentityProvider();
    const refusedUrl = closed.url;
    await closed.close();
    const cases: [Partial<Parameters<typeof authFixture>[0]>, RegExp][] = [
      [{ authorityHost: refusedUrl }, /^fetch failed: connect ECONNREFUSED 127\.0\.0\.1:\d+$/],
      // TLS to a plain HTTP port: the handshake fails.
      [{ authorityHost: idp.url.replace('http:', 'https:') }, /^fetch failed: .*(SSL|TLS|EPROTO)/i],
    ];
    for (const [options, pattern] of cases) {
      const fx = await authFixture({ acceptedVersions: ['2.0'], ...options }, idp);
      await fx.verifier.start();
      fx.verifier.stop();
      const failure = fx.logger.lines.find((line) => line.details['event'] === 'signing_keys_refresh_failed');
      expect(failure?.message).toBe('Signing keys are unavailable');
      expect(String(failure?.details['error'])).toMatch(pattern);
    }
    idp.setDelay(500);
    try {
      const slow = await authFixture({ acceptedVersions: ['2.0'], httpTimeoutMs: 100 }, idp);
      await slow.verifier.start();
      slow.verifier.stop();
      const failure = slow.logger.lines.find((line) => line.details['event'] === 'signing_keys_refresh_failed');
      expect(String(failure?.details['error'])).toMatch(/timeout|aborted/i);
    } finally {
      idp.setDelay(0);
    }
  });

  it('stops trusting the last good keys once they are older than the stale bound', async () => {
    const f = await authFixture({ acceptedVersions: ['2.0'], keyMaxStaleSeconds: 3600 }, idp);
    await f.verifier.start();
    idp.setAvailable(false);
    f.clock.advance(3601);
    expect(f.verifier.ready()).toBe(false);
    const error = await expectRefusal(f.verifier.verify(await f.mint()), 'keys_unavailable');
    expect(error.status).toBe(503);
    f.verifier.stop();
  });

  it('answers keys_unavailable, not invalid token, when keys were never obtained, and retries after the cooldown', async () => {
    idp.setAvailable(false);
    const f = await authFixture({ acceptedVersions: ['2.0'] }, idp);
    await f.verifier.start();
    expect(f.verifier.ready()).toBe(false);
    const token = await f.mint();
    await expectRefusal(
      f.verifier.verify(token),
      'keys_unavailable',
      'The identity provider is unavailable, so tokens cannot be verified now; retry later',
    );
    expect(idp.requestCount()).toBe(1);
    expect(f.logger.lines.at(-1)).toMatchObject({
      message: 'Signing keys are unavailable',
      details: { keyAgeSeconds: null },
    });
    idp.setAvailable(true);
    f.clock.advance(31);
    await expect(f.verifier.verify(token)).resolves.toMatchObject({ kind: 'user' });
    expect(f.verifier.ready()).toBe(true);
    f.verifier.stop();
  });

  it.each([
    ['not JSON', 'text/plain', 'hello'],
    ['without jwks_uri', 'application/json', JSON.stringify({ issuer: 'x' })],
    ['null', 'application/json', 'null'],
  ])('treats a discovery document that is %s as the provider being unavailable', async (_case, type, body) => {
    const broken = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': type });
      res.end(body);
    });
    await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
    try {
      const f = await authFixture(
        { authorityHost: `http://127.0.0.1:${(broken.address() as AddressInfo).port}`, acceptedVersions: ['2.0'] },
        idp,
      );
      await expectRefusal(f.verifier.verify(await f.mint()), 'keys_unavailable');
    } finally {
      broken.close();
    }
  });

  it('treats an empty key set as unavailable', async () => {
    const f = await authFixture(
      {
        acceptedVersions: ['2.0'],
        fetch: async (input, init) =>
          String(input).includes('/keys') ? new Response('{"keys":[]}', { status: 200 }) : fetch(input, init),
      },
      idp,
    );
    await expectRefusal(f.verifier.verify(await f.mint()), 'keys_unavailable');
  });

  it('refreshes keys in the background and stops doing so on stop()', async () => {
    const f = await authFixture(
      { acceptedVersions: ['2.0'], keyRefreshIntervalSeconds: 1, keyRefetchCooldownSeconds: 0 },
      idp,
    );
    await f.verifier.start();
    await f.verifier.start();
    await waitFor(() => keyFetches() >= 2);
    f.verifier.stop();
    const settled = keyFetches();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(keyFetches()).toBeLessThanOrEqual(settled + 1);
  });

  it('retries in the background every cooldown while keys are missing', async () => {
    idp.setAvailable(false);
    const f = await authFixture({ acceptedVersions: ['2.0'], keyRefetchCooldownSeconds: 1 }, idp);
    await f.verifier.start();
    idp.setAvailable(true);
    await waitFor(() => f.verifier.ready());
    f.verifier.stop();
  });

  it('uses a key it was never told about only after it is published', async () => {
    const f = await authFixture({ acceptedVersions: ['2.0'] }, idp);
    await f.verifier.start();
    const unpublished = await createSigningKey();
    await expectRefusal(f.verifier.verify(await f.mint({ key: unpublished })), 'unknown_key');
    f.verifier.stop();
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
