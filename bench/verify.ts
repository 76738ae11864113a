// `npm run bench:verify`: CPU per token verification in one process, ours against jose's jwtVerify (what the naive
// variant does), with real RS256 tokens from the local identity provider. Complements the HTTP benchmark, whose
// figures include Apollo, Fastify and the sockets.
import { cpuUsage, hrtime } from 'node:process';
import { parseArgs } from 'node:util';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { createTokenVerifier } from '../src/auth';
import { startIdentityProvider } from '../src/dev/identity-provider';
import { middle } from './middle';

const { values: args } = parseArgs({
  options: {
    tokens: { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '5' },
    /** Verifications in flight, as under load; 1 awaits them one by one. */
    concurrency: { type: 'string', default: '32' },
  },
});
const TOKENS = Number(args.tokens);
const ROUNDS = Number(args.rounds);
const CONCURRENCY = Number(args.concurrency);

type Check = (token: string) => Promise<unknown>;
interface Cost {
  /** CPU of every thread of the process (the event loop and the thread pool), per verification. */
  cpu: number;
  /** Elapsed time per verification: the throughput at this concurrency. */
  wall: number;
}

async function costPerCall(check: Check, tokens: readonly string[]): Promise<Cost> {
  const before = cpuUsage();
  const start = hrtime.bigint();
  let next = 0;
  const lane = async () => {
    while (next < tokens.length) await check(tokens[next++] as string);
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  const used = cpuUsage(before);
  const wallMicros = Number(hrtime.bigint() - start) / 1000;
  return { cpu: (used.user + used.system) / tokens.length, wall: wallMicros / tokens.length };
}

async function main(): Promise<void> {
  const idp = await startIdentityProvider();
  try {
    // Copied through a Buffer into flat strings, as the HTTP parser delivers them (jose's are concatenations).
    const mint = async (count: number) =>
      (await Promise.all(Array.from({ length: count }, () => idp.mint({ expiresInSeconds: 3600 })))).map((token) =>
        Buffer.from(token).toString(),
      );
    const tokens = await mint(TOKENS);
    // The cache admits a token on its second sighting: with the cache on, every round needs tokens never seen.
    const unseen = await mint(TOKENS * (ROUNDS + 1));
    let round = 0;
    const unseenThisRound = () => unseen.slice(round * TOKENS, (round + 1) * TOKENS);
    const options = { tenantId: idp.tenantId, clientId: idp.clientId, authorityHost: idp.url };
    const uncached = createTokenVerifier({ ...options, tokenCacheMaxEntries: 0 });
    const cached = createTokenVerifier(options);
    await Promise.all([uncached.start(), cached.start()]);
    const keys = createRemoteJWKSet(new URL(`${idp.url}/${idp.tenantId}/discovery/v2.0/keys`));
    const issuer = `${idp.url}/${idp.tenantId}/v2.0`;
    const same = tokens[0] as string;
    // An empty token list stands for tokens never seen before.
    const checks: Record<string, [Check, readonly string[]]> = {
      'jose jwtVerify (fresh tokens)': [(token) => jwtVerify(token, keys, { issuer, algorithms: ['RS256'] }), tokens],
      'ours, cache off (fresh tokens)': [(token) => uncached.verify(token), tokens],
      'ours, cache on (fresh tokens)': [(token) => cached.verify(token), []],
      'ours, cache on (same token)': [(token) => cached.verify(token), tokens.map(() => same)],
    };
    const samples = new Map<string, Cost[]>(Object.keys(checks).map((name) => [name, []]));
    // Round 0 warms the JIT and the caches; alternate the checks so host noise hits them alike.
    for (; round <= ROUNDS; round += 1) {
      for (const [name, [check, input]] of Object.entries(checks)) {
        const cost = await costPerCall(check, input.length > 0 ? input : unseenThisRound());
        if (round > 0) samples.get(name)?.push(cost);
      }
    }
    uncached.stop();
    cached.stop();
    const joseCpu = middle((samples.get('jose jwtVerify (fresh tokens)') as Cost[]).map((cost) => cost.cpu));
    console.log(
      `Per verification, median of ${ROUNDS} rounds of ${TOKENS} tokens, ${CONCURRENCY} in flight (Node ${process.version})`,
    );
    console.log('| check | CPU µs (all threads) | elapsed µs | jose / this (CPU) |\n|---|---|---|---|');
    for (const [name, costs] of samples) {
      const cpu = middle(costs.map((cost) => cost.cpu));
      const wall = middle(costs.map((cost) => cost.wall));
      console.log(`| ${name} | ${cpu.toFixed(1)} | ${wall.toFixed(1)} | ${(joseCpu / cpu).toFixed(2)} |`);
    }
  } finally {
    await idp.close();
  }
}

void main();
