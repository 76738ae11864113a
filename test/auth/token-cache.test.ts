import { startIdentityProvider, type IdentityProvider } from '../../src/dev/identity-provider';
import { VerifiedTokenCache } from '../../src/auth/token-cache';
import { authFixture } from '../helpers/auth';
import { expectRefusal } from './expect-reason';

let idp: IdentityProvider;
beforeEach(async () => {
  idp = await startIdentityProvider();
});
afterEach(() => idp.close());

describe('verified-token cache', () => {
  it('admits a token on its second verification and answers it from the cache after that', async () => {
    const f = await authFixture({ acceptedVersions: ['2.0'] }, idp);
    const token = await f.mint();
    const first = await f.verifier.verify(token);
    expect(f.verifier.cacheStats()).toEqual({ hits: 0, misses: 1, size: 0 });
    const second = await f.verifier.verify(token);
    expect(second).not.toBe(first);
    expect(second).toEqual(first);
    expect(f.verifier.cacheStats()).toEqual({ hits: 0, misses: 2, size: 1 });
    expect(await f.verifier.verify(token)).toBe(second);
    expect(f.verifier.cacheStats()).toEqual({ hits: 1, misses: 2, size: 1 });
  });

  it('stores nothing for tokens that are each used once', async () => {
    const f = await authFixture({ acceptedVersions: ['2.0'] }, idp);
    for (const token of await Promise.all(Array.from({ length: 20 }, () => f.mint()))) await f.verifier.verify(token);
    expect(f.verifier.cacheStats()).toEqual({ hits: 0, misses: 20, size: 0 });
  });

  it('refuses an expired token even though it was cached', async () => {
    const f = await authFixture({ acceptedVersions: ['2.0'], clockSkewSeconds: 0, tokenCacheTtlSeconds: 86400 }, idp);
    const token = await f.mint({ expiresInSeconds: 60 });
    await f.verifier.verify(token);
    await f.verifier.verify(token);
    expect(f.verifier.cacheStats()).toEqual({ hits: 0, misses: 2, size: 1 });
    f.clock.advance(60);
    await expectRefusal(f.verifier.verify(token), 'expired', 'Token has expired: request a new access token');
    expect(f.verifier.cacheStats()).toEqual({ hits: 0, misses: 3, size: 0 });
  });

  it('keeps an entry no longer than its time to live', async () => {
    const f = await authFixture({ acceptedVersions: ['2.0'], tokenCacheTtlSeconds: 30 }, idp);
    const token = await f.mint();
    await f.verifier.verify(token);
    await f.verifier.verify(token);
    f.clock.advance(29);
    await f.verifier.verify(token);
    f.clock.advance(2);
    await f.verifier.verify(token);
    expect(f.verifier.cacheStats()).toEqual({ hits: 1, misses: 3, size: 1 });
  });

  it('drops an entry once its signing key has left the key set', async () => {
    const f = await authFixture({ acceptedVersions: ['2.0'] }, idp);
    await f.verifier.start();
    const token = await f.mint();
    await f.verifier.verify(token);
    await f.verifier.verify(token);
    expect(f.verifier.cacheStats()).toMatchObject({ size: 1 });
    await idp.rotate({ retire: true });
    f.clock.advance(31);
    await f.verifier.verify(await f.mint());
    await expectRefusal(f.verifier.verify(token), 'unknown_key');
    f.verifier.stop();
  });

  it('stops answering from the cache when the keys are older than the stale bound', async () => {
    const f = await authFixture({ acceptedVersions: ['2.0'], keyMaxStaleSeconds: 60, tokenCacheTtlSeconds: 3600 }, idp);
    await f.verifier.start();
    const token = await f.mint();
    await f.verifier.verify(token);
    await f.verifier.verify(token);
    expect(f.verifier.cacheStats()).toMatchObject({ size: 1 });
    idp.setAvailable(false);
    f.clock.advance(61);
    await expectRefusal(f.verifier.verify(token), 'keys_unavailable');
    f.verifier.stop();
  });

  it("answers a forged token that borrows a cached token's signature, and so its tail, as any forgery", async () => {
    const f = await authFixture({ acceptedVersions: ['2.0'] }, idp);
    const token = await f.mint();
    await f.verifier.verify(token);
    const remembered = await f.verifier.verify(token);
    const [header, payload] = (await f.mint({ claims: { oid: '00000000-0000-0000-0000-00000000beef' } })).split('.');
    const forged = `${header}.${payload}.${token.split('.')[2]}`;
    await expectRefusal(f.verifier.verify(forged), 'bad_signature');
    await expectRefusal(f.verifier.verify(forged), 'bad_signature');
    expect(await f.verifier.verify(token)).toBe(remembered);
    expect(f.verifier.cacheStats()).toEqual({ hits: 1, misses: 4, size: 1 });
  });

  it('never remembers a failure', async () => {
    const f = await authFixture({ acceptedVersions: ['2.0'] }, idp);
    const token = await f.mint({ audience: 'api://another-api' });
    await expectRefusal(f.verifier.verify(token), 'wrong_audience');
    await expectRefusal(f.verifier.verify(token), 'wrong_audience');
    expect(f.verifier.cacheStats()).toEqual({ hits: 0, misses: 2, size: 0 });
  });

  it('holds at most the configured number of entries, dropping the least recently used', async () => {
    const f = await authFixture({ acceptedVersions: ['2.0'], tokenCacheMaxEntries: 2 }, idp);
    const [a, b, c] = await Promise.all([f.mint(), f.mint(), f.mint()]);
    // Admitted in the order a, b, c: c's admission drops a, the least recently used.
    for (const token of [a!, a!, b!, b!, c!, b!, c!]) await f.verifier.verify(token);
    expect(f.verifier.cacheStats()).toEqual({ hits: 1, misses: 6, size: 2 });
    await f.verifier.verify(b!);
    await f.verifier.verify(c!);
    expect(f.verifier.cacheStats()).toEqual({ hits: 3, misses: 6, size: 2 });
    await f.verifier.verify(a!);
    expect(f.verifier.cacheStats()).toEqual({ hits: 3, misses: 7, size: 2 });
  });

  it('can be turned off', async () => {
    const f = await authFixture({ acceptedVersions: ['2.0'], tokenCacheMaxEntries: 0 }, idp);
    const token = await f.mint();
    await f.verifier.verify(token);
    await f.verifier.verify(token);
    expect(f.verifier.cacheStats()).toEqual({ hits: 0, misses: 0, size: 0 });
  });

  it('keys entries by a SHA-256 of the token, never by the token', () => {
    const key = VerifiedTokenCache.keyOf('header.payload.signature');
    expect(key).toBe('256d04db4e5e4ac308751ed0885b722b758630567c53a7125ed9fbd068e5c3f6');
    expect(key).not.toContain('payload');
  });
});
