// `npm run bench`: drives the authenticated `hello` over loopback with autocannon against the production server,
// a bare Apollo baseline and a naive jose variant, in the same run, and writes bench/RESULTS.md.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import autocannon from 'autocannon';
import WebSocket from 'ws';
import { startIdentityProvider, type IdentityProvider } from '../src/dev/identity-provider';
import { middle, middleBy } from './middle';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    /** Rounds, each with new server processes; per variant the median round is kept: the host is noisy. */
    rounds: { type: 'string', default: '7' },
    /**
     * A round's measured time per variant is cut into this many slices, taken in turn with the other variants' (the
     * order reversed every slice), so that the host's drift within a round reaches every variant alike.
     */
    slices: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '5' },
    connections: { type: 'string', default: '64' },
    'fresh-tokens': { type: 'string', default: '150000' },
    'soak-requests': { type: 'string', default: '1000000' },
    /** Requests of the address flood, each from another address (0 skips it). */
    'flood-addresses': { type: 'string', default: '300000' },
    /** Subscribed WebSockets held open to measure their memory (0 skips the WebSocket phase). */
    sockets: { type: 'string', default: '2000' },
    /** Rounds of the on-behalf-of phase: hello with and without User.profile, on one server (0 skips it). */
    'obo-rounds': { type: 'string', default: '5' },
    variants: {
      type: 'string',
      default: 'baseline,baseline-express,mercurius,naive,ours,ours-2-workers,ours-traced',
    },
    modes: { type: 'string', default: 'same,fresh' },
    /**
     * Another build of the product (the `dist` folder of another checkout, say) to measure as the variant `compare`
     * next to `ours`, with the same settings: what a change buys, in one run.
     */
    compare: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    /** Write a CPU profile of each server to reports/ (node --cpu-prof). */
    profile: { type: 'boolean', default: false },
    /**
     * Servers on CPU 1, this process and its load on CPU 0 (Linux, taskset). Steadier rounds for comparing
     * same-token builds; not the benchmark, since it also takes the thread pool's second core from fresh tokens.
     */
    pin: { type: 'boolean', default: false },
  },
});
const DURATION = Number(args.duration);
const WARMUP = Number(args.warmup);
const CONNECTIONS = Number(args.connections);
const FRESH_TOKENS = Number(args['fresh-tokens']);
const SOAK = Number(args['soak-requests']);
const FLOOD = Number(args['flood-addresses']);
const SOCKETS = Number(args.sockets);
const OBO_ROUNDS = Number(args['obo-rounds']);
/** Sockets whose tokens expire during the run, to time their close. */
const EXPIRING_SOCKETS = 20;
const ROUNDS = Number(args.rounds);
const SLICES = Number(args.slices);
const root = join(__dirname, '../..');
const USERNAME = '"username":"ada@contoso.example"';
const BODY = JSON.stringify({ query: '{ hello { username employeeId scopes } }' });
const PROFILE_BODY = JSON.stringify({
  query: '{ hello { username employeeId scopes profile { displayName jobTitle } } }',
});
const PROFILE = '"profile":{"displayName":"Ada Lovelace","jobTitle":"Analyst"}';

type Mode = 'same' | 'fresh';
interface Variant {
  name: string;
  script: string;
  env: Record<string, string>;
}
interface Result {
  variant: string;
  mode: Mode;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  peakRssMb: number;
  /** Server CPU time (user + system) per measured request: steadier than req/s on a noisy host. */
  cpuMicrosPerRequest: number;
  requests: number;
  errors: number;
}

/**
 * Tokens of one length in one off-heap Buffer, made a string only when sent. Held as 150,000 strings (about 165 MB)
 * they made the load generator's garbage collector, which shares the two cores, cost the servers measurably
 * (bench/PROFILE.md).
 */
class TokenPool {
  private constructor(
    private readonly bytes: Buffer,
    private readonly width: number,
    readonly length: number,
  ) {}

  static of(tokens: readonly string[]): TokenPool {
    const width = tokens[0]?.length ?? 0;
    if (tokens.some((token) => token.length !== width)) throw new Error('the tokens of a pool must have one length');
    const bytes = Buffer.alloc(width * tokens.length);
    tokens.forEach((token, index) => bytes.write(token, index * width, 'latin1'));
    return new TokenPool(bytes, width, tokens.length);
  }

  at(index: number): string {
    return this.bytes.toString('latin1', index * this.width, (index + 1) * this.width);
  }

  slice(start: number, end = this.length): TokenPool {
    return new TokenPool(this.bytes.subarray(start * this.width, end * this.width), this.width, end - start);
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startVariant(variant: Variant, nodeFlags: string[] = []): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  // Logs go to /dev/null: they are still produced and serialised, as in production.
  const profiling = args.profile
    ? [
        // One directory per server: its signature thread writes a profile of its own, under Node's default name.
        '--cpu-prof',
        `--cpu-prof-dir=${join(root, 'reports/profiles', `${variant.name}-${port}`)}`,
      ]
    : [];
  const command = [process.execPath, ...nodeFlags, ...profiling, resolve(root, variant.script)];
  const [file, ...rest] = args.pin ? ['taskset', '-c', '1', ...command] : command;
  const child = spawn(file as string, rest, {
    env: { PATH: process.env['PATH'] ?? '', PORT: String(port), HOST: '127.0.0.1', ...variant.env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}/graphql`;
  for (let attempt = 0; attempt < 200; attempt += 1) {
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      await response.arrayBuffer();
      return { url, child };
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  child.kill('SIGKILL');
  throw new Error(`${variant.name} did not start`);
}

function cpuSecondsOf(pid: number): number {
  return processTree(pid).reduce((sum, member) => {
    const fields = readFileSync(`/proc/${member}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return sum + (Number(fields[11]) + Number(fields[12])) / 100;
  }, 0);
}

/** The process and its children (cluster workers). */
function processTree(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    // no children file: no children
  }
  return [pid, ...children.flatMap(processTree)];
}

/**
 * RSS as the burst left it, and RSS after a full collection. Right after 64 connections stop, V8 may still be marking
 * concurrently, so the first reading waits 3 s. Even then it depends on where the old generation's collection cycle
 * stands (garbage waits there for the next full collection, which an idle server may not run for minutes), so the
 * server is then asked for a full collection (bench/collect-on-signal.ts): what is left is what it keeps.
 */
interface RssReading {
  /** MB, 3 s after the load stopped. */
  asLeft: number;
  /** MB, after a full collection that followed. */
  collected: number;
}

async function settledRss(child: ChildProcess): Promise<RssReading> {
  const pid = child.pid as number;
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const asLeft = memoryOf(pid, 'VmRSS');
  child.kill('SIGUSR2');
  await new Promise((resolve) => setTimeout(resolve, 2000));
  return { asLeft, collected: memoryOf(pid, 'VmRSS') };
}

/** Memory of the process and its workers, in MB. */
function memoryOf(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  return processTree(pid).reduce((sum, member) => {
    const line = readFileSync(`/proc/${member}/status`, 'utf8')
      .split('\n')
      .find((entry) => entry.startsWith(`${field}:`));
    return sum + Number(line?.replace(/\D/g, '') ?? 0) / 1024;
  }, 0);
}

/** Runs autocannon; every response must be a 200 greeting the expected user. */
async function drive(
  url: string,
  tokens: TokenPool,
  options: {
    duration?: number;
    amount?: number;
    cycle: boolean;
    latencies?: number[];
    /** Another operation, and a text every answer must hold besides the username. */
    body?: string;
    expect?: string;
  },
) {
  let next = 0;
  let exhausted = false;
  let bad = 0;
  const run = autocannon({
    url,
    connections: CONNECTIONS,
    ...(options.amount ? { amount: options.amount } : { duration: options.duration ?? DURATION }),
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: options.body ?? BODY,
    requests: [
      {
        setupRequest(request: autocannon.Request) {
          if (next >= tokens.length) {
            if (!options.cycle) exhausted = true;
            next = 0;
          }
          request.headers = { 'content-type': 'application/json', authorization: `Bearer ${tokens.at(next)}` };
          next += 1;
          return request;
        },
        onResponse(status: number, body: string) {
          if (status !== 200 || !body.includes(USERNAME) || (options.expect && !body.includes(options.expect)))
            bad += 1;
        },
      },
    ],
  }) as unknown as autocannon.Instance & Promise<autocannon.Result>;
  // Every response's latency, so that the slices of a round give one distribution. What autocannon returns is both
  // the promise of its result and the emitter of its 'response' events; its typings describe only the promise.
  const { latencies } = options;
  if (latencies) run.on('response', (_client, _status, _bytes, ms: number) => latencies.push(ms));
  const result = await run;
  return { result, bad, exhausted, used: next };
}

async function mintFresh(idp: IdentityProvider, count: number): Promise<TokenPool> {
  const template = await idp.mint({ expiresInSeconds: 4 * 3600 });
  const [header, payload] = template
    .split('.')
    .slice(0, 2)
    .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
  const workers = Math.max(1, Math.min(cpus().length, 4));
  const share = Math.ceil(count / workers);
  const batches = await Promise.all(
    Array.from(
      { length: workers },
      () =>
        new Promise<string[]>((resolve, reject) => {
          const worker = new Worker(join(__dirname, 'mint-worker.js'), {
            workerData: { privateJwk: idp.currentKey.privateJwk, header, payload, count: share },
          });
          worker.once('message', resolve);
          worker.once('error', reject);
        }),
    ),
  );
  return TokenPool.of(batches.flat());
}

/**
 * One round of one mode: every variant gets its own new server process and its warm-up, then the variants take turns
 * in slices of the measured time. Fresh tokens never repeat within a server (the warm-up has its own).
 */
async function measureRound(variants: Variant[], mode: Mode, same: TokenPool, fresh: TokenPool): Promise<Result[]> {
  const servers: {
    variant: Variant;
    url: string;
    child: ChildProcess;
    tally: { requests: number; seconds: number; cpu: number; errors: number; used: number; latencies: number[] };
  }[] = [];
  try {
    for (const variant of variants) {
      const tally = { requests: 0, seconds: 0, cpu: 0, errors: 0, used: 0, latencies: [] };
      servers.push({ variant, ...(await startVariant(variant)), tally });
    }
    const tokens = mode === 'same' ? same : fresh;
    const warmupTokens = mode === 'same' ? tokens : tokens.slice(0, Math.floor(tokens.length / 4));
    const measuredTokens = mode === 'same' ? tokens : tokens.slice(warmupTokens.length);
    for (const { url } of servers) await drive(url, warmupTokens, { duration: WARMUP, cycle: true });
    for (let slice = 0; slice < SLICES; slice += 1) {
      for (const { variant, url, child, tally } of slice % 2 === 0 ? servers : [...servers].reverse()) {
        const cycle = mode === 'same' || variant.name.startsWith('baseline');
        const cpuBefore = cpuSecondsOf(child.pid as number);
        const run = await drive(url, cycle ? measuredTokens : measuredTokens.slice(tally.used), {
          duration: DURATION / SLICES,
          cycle,
          latencies: tally.latencies,
        });
        if (run.exhausted) throw new Error(`${variant.name}/${mode}: ran out of fresh tokens; raise --fresh-tokens`);
        tally.cpu += cpuSecondsOf(child.pid as number) - cpuBefore;
        tally.requests += run.result.requests.total;
        tally.seconds += run.result.duration;
        tally.errors += run.bad + run.result.errors + run.result.timeouts + run.result.non2xx;
        tally.used += run.used;
      }
    }
    return servers.map(({ variant, child, tally }) => {
      const sorted = Float64Array.from(tally.latencies).sort();
      const percentile = (p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? 0;
      return {
        variant: variant.name,
        mode,
        requestsPerSecond: tally.requests / tally.seconds,
        p50: percentile(0.5),
        p99: percentile(0.99),
        peakRssMb: memoryOf(child.pid as number, 'VmHWM'),
        cpuMicrosPerRequest: (tally.cpu * 1e6) / tally.requests,
        requests: tally.requests,
        errors: tally.errors,
      };
    });
  } finally {
    for (const { child } of servers) await stop(child);
  }
}

/** A signal lets a server stop its workers and write its profile; SIGKILL follows if it does not exit. */
async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(args.profile ? 'SIGINT' : 'SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

interface SoakResult {
  after100k: RssReading;
  after1m: RssReading;
  errors: number;
}

async function soak(variant: Variant, tokens: TokenPool): Promise<SoakResult> {
  const { url, child } = await startVariant(variant, [
    '--expose-gc',
    '--require',
    join(root, 'dist-bench/bench/collect-on-signal.js'),
  ]);
  try {
    const first = await drive(url, tokens, { amount: Math.round(SOAK / 10), cycle: true });
    const after100k = await settledRss(child);
    const rest = await drive(url, tokens, { amount: SOAK - Math.round(SOAK / 10), cycle: true });
    const after1m = await settledRss(child);
    const errors = [first, rest].reduce((sum, run) => sum + run.bad + run.result.errors + run.result.non2xx, 0);
    return { after100k, after1m, errors };
  } finally {
    child.kill('SIGKILL');
  }
}

interface FloodResult {
  /** RSS after a full collection, after each third of the flood. */
  readings: { addresses: number; rss: RssReading }[];
  errors: number;
}

/**
 * Forged tokens, each request from another address (X-Forwarded-For through one trusted proxy, a /64 of the
 * documentation prefix 2001:db8::/32 per request): every address gets a failure counter. The counters are bounded
 * (RATE_LIMIT_MAX_TRACKED_KEYS, 100,000 by default), so RSS must stop growing once that many are held.
 */
async function flood(variant: Variant): Promise<FloodResult> {
  const { url, child } = await startVariant(
    { ...variant, env: { ...variant.env, TRUST_PROXY: '1', RATE_LIMIT_AUTH_FAILURES: '20' } },
    ['--expose-gc', '--require', join(root, 'dist-bench/bench/collect-on-signal.js')],
  );
  let sent = 0;
  let errors = 0;
  const readings: FloodResult['readings'] = [];
  try {
    for (let third = 0; third < 3; third += 1) {
      const run = autocannon({
        url,
        connections: CONNECTIONS,
        amount: Math.round(FLOOD / 3),
        method: 'POST',
        body: BODY,
        requests: [
          {
            setupRequest(request: autocannon.Request) {
              const n = sent++;
              request.headers = {
                'content-type': 'application/json',
                authorization: 'Bearer not.a.token',
                'x-forwarded-for': `2001:db8:${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}::1`,
              };
              return request;
            },
            onResponse(status: number) {
              if (status !== 401) errors += 1;
            },
          },
        ],
      }) as unknown as Promise<autocannon.Result>;
      const result = await run;
      errors += result.errors + result.timeouts;
      readings.push({ addresses: sent, rss: await settledRss(child) });
    }
    return { readings, errors };
  } finally {
    child.kill('SIGKILL');
  }
}

interface SocketsResult {
  /** RSS after a full collection with no socket open, then with SOCKETS subscribed sockets open. */
  before: RssReading;
  open: RssReading;
  /** Milliseconds from a token's exp to its socket's close (no clock skew), one per expiring socket. */
  closeDelaysMs: number[];
  errors: number;
}

/**
 * Opens one subscribed socket (graphql-transport-ws, greetings every 300 s) and resolves once its first greeting
 * arrived; `closed` resolves with the close code and the time it came.
 */
function subscribedSocket(
  url: string,
  token: string,
): { opened: Promise<void>; closed: Promise<{ code: number; at: number }> } {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws');
  const closed = new Promise<{ code: number; at: number }>((resolve) =>
    ws.once('close', (code) => resolve({ code, at: Date.now() })),
  );
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () =>
      ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${token}` } })),
    );
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string };
      if (message.type === 'connection_ack') {
        ws.send(
          JSON.stringify({
            id: '1',
            type: 'subscribe',
            payload: { query: 'subscription { greetings(everySeconds: 300) { tokenExpiresInSeconds } }' },
          }),
        );
      } else if (message.type === 'next') {
        resolve();
      } else {
        reject(new Error(`unexpected ${message.type}`));
      }
    });
    ws.once('close', (code) => reject(new Error(`closed with ${code}`)));
  });
  return { opened, closed };
}

/**
 * Memory of open subscribed sockets: RSS after a full collection with none open and with SOCKETS open (each
 * authenticated and subscribed). Then the close of sockets whose tokens expire 3-5 s later, against their exp.
 */
async function sockets(variant: Variant, idp: IdentityProvider): Promise<SocketsResult> {
  const many = String(SOCKETS * 2);
  const { url, child } = await startVariant(
    {
      ...variant,
      env: {
        ...variant.env,
        AZURE_CLOCK_SKEW_SECONDS: '0',
        HTTP_MAX_CONNECTIONS: many,
        HTTP_MAX_CONNECTIONS_PER_ADDRESS: many,
        WS_MAX_SOCKETS_PER_ADDRESS: many,
        WS_MAX_SOCKETS_PER_CALLER: many,
      },
    },
    ['--expose-gc', '--require', join(root, 'dist-bench/bench/collect-on-signal.js')],
  );
  let errors = 0;
  try {
    const token = await idp.mint({ expiresInSeconds: 3600 });
    // Warm the server up with one socket, so that the first reading includes what any socket loads once.
    const warm = subscribedSocket(url, token);
    await warm.opened;
    const before = await settledRss(child);
    const held: ReturnType<typeof subscribedSocket>[] = [];
    for (let opened = 0; opened < SOCKETS; opened += 100) {
      const batch = Array.from({ length: Math.min(100, SOCKETS - opened) }, () => subscribedSocket(url, token));
      held.push(...batch);
      for (const result of await Promise.allSettled(batch.map((socket) => socket.opened))) {
        if (result.status === 'rejected') errors += 1;
      }
    }
    const open = await settledRss(child);
    const issuedAt = Math.floor(Date.now() / 1000);
    const expiring = await Promise.all(
      Array.from({ length: EXPIRING_SOCKETS }, async (_, i) => {
        const exp = issuedAt + 3 + (i % 3);
        const socket = subscribedSocket(url, await idp.mint({ issuedAt, expiresInSeconds: exp - issuedAt }));
        await socket.opened;
        return { exp, closed: socket.closed };
      }),
    );
    const closeDelaysMs: number[] = [];
    for (const { exp, closed } of expiring) {
      const { code, at } = await closed;
      if (code !== 4403) errors += 1;
      closeDelaysMs.push(at - exp * 1000);
    }
    return { before, open, closeDelaysMs, errors };
  } finally {
    child.kill('SIGKILL');
  }
}

/** The run with the median requests/s; errors of every run count. */
interface OboResult {
  /** Per round: req/s, p50 and p99 (ms) and server CPU µs per request, of hello alone and with profile. */
  rounds: { hello: Tally; profile: Tally }[];
  /** Token-endpoint exchanges and cache hits the servers counted (obo_token_requests_total), all rounds. */
  acquired: number;
  cacheHits: number;
  errors: number;
}
interface Tally {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  cpuMicrosPerRequest: number;
}

/**
 * The cost of `User.profile` on a cache hit: one server with on-behalf-of configured, one token, answering
 * `hello` with and without `profile { displayName jobTitle }` in alternating slices. With profile, every request
 * takes its Graph token from msal-node's cache and calls the Graph stand-in (another process, over HTTPS).
 */
async function onBehalfOf(variant: Variant): Promise<OboResult> {
  const standIns = spawn(process.execPath, [join(root, 'dist-bench/bench/downstream-stand-ins.js')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const setup = await new Promise<{ env: Record<string, string>; token: string }>((resolve, reject) => {
      let output = '';
      standIns.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('\n')) resolve(JSON.parse(output.split('\n')[0] as string));
      });
      standIns.once('exit', (code) => reject(new Error(`the stand-ins exited with ${code}`)));
    });
    const tokens = TokenPool.of([setup.token]);
    const result: OboResult = { rounds: [], acquired: 0, cacheHits: 0, errors: 0 };
    for (let round = 0; round < OBO_ROUNDS; round += 1) {
      const { url, child } = await startVariant({ ...variant, env: { ...variant.env, ...setup.env } });
      try {
        const kinds = [
          { name: 'hello' as const, body: BODY, expect: undefined },
          { name: 'profile' as const, body: PROFILE_BODY, expect: PROFILE },
        ];
        const tallies = {
          hello: { requests: 0, seconds: 0, cpu: 0, latencies: [] as number[] },
          profile: { requests: 0, seconds: 0, cpu: 0, latencies: [] as number[] },
        };
        for (const kind of kinds) await drive(url, tokens, { duration: WARMUP, cycle: true, body: kind.body });
        for (let slice = 0; slice < SLICES; slice += 1) {
          for (const kind of (slice + round) % 2 === 0 ? kinds : [...kinds].reverse()) {
            const tally = tallies[kind.name];
            const cpuBefore = cpuSecondsOf(child.pid as number);
            const run = await drive(url, tokens, {
              duration: DURATION / SLICES,
              cycle: true,
              latencies: tally.latencies,
              body: kind.body,
              ...(kind.expect && { expect: kind.expect }),
            });
            tally.cpu += cpuSecondsOf(child.pid as number) - cpuBefore;
            tally.requests += run.result.requests.total;
            tally.seconds += run.result.duration;
            result.errors += run.bad + run.result.errors + run.result.timeouts + run.result.non2xx;
          }
        }
        const summary = (tally: (typeof tallies)['hello']): Tally => {
          const sorted = Float64Array.from(tally.latencies).sort();
          const percentile = (p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? 0;
          return {
            requestsPerSecond: tally.requests / tally.seconds,
            p50: percentile(0.5),
            p99: percentile(0.99),
            cpuMicrosPerRequest: (tally.cpu * 1e6) / tally.requests,
          };
        };
        result.rounds.push({ hello: summary(tallies.hello), profile: summary(tallies.profile) });
        const metrics = await (await fetch(url.replace(/\/graphql$/, '/metrics'))).text();
        const count = (label: string) =>
          Number(new RegExp(`^obo_token_requests_total\\{result="${label}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
        result.acquired += count('acquired');
        result.cacheHits += count('cache_hit');
        console.log(JSON.stringify({ phase: 'on-behalf-of', round, ...result.rounds.at(-1) }));
      } finally {
        await stop(child);
      }
    }
    return result;
  } finally {
    standIns.kill('SIGKILL');
  }
}

function median(runs: Result[]): Result {
  const chosen = middleBy(runs, (run) => run.requestsPerSecond);
  return { ...chosen, errors: runs.reduce((sum, run) => sum + run.errors, 0) };
}

function table(results: Result[]): string {
  const rows = results.map(
    (r) =>
      `| ${r.variant} | ${r.mode} | ${r.requestsPerSecond.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.peakRssMb.toFixed(0)} | ${r.cpuMicrosPerRequest.toFixed(0)} | ${r.requests} | ${r.errors} |`,
  );
  return [
    '| variant | tokens | req/s | p50 ms | p99 ms | peak RSS MB | CPU µs/request | requests | errors |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

async function main(): Promise<void> {
  if (args.pin) execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
  const idp = await startIdentityProvider();
  const otlpSink = await startOtlpSink();
  const shared = {
    AZURE_TENANT_ID: idp.tenantId,
    AZURE_CLIENT_ID: idp.clientId,
    AZURE_AUTHORITY_HOST: idp.url,
  };
  const oursVariant: Variant = {
    name: 'ours',
    script: 'dist/main.js',
    env: {
      ...shared,
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      // The bench's tokens belong to one user: only the per-caller budget is lifted. The address budgets stay at
      // their defaults, though all 64 connections come from one loopback address with tokens never seen before.
      RATE_LIMIT_CALLER_REQUESTS: '1000000000',
      // Servers are stopped between rounds; the drain period is for load balancers, not for this.
      SHUTDOWN_DRAIN_SECONDS: '0',
    },
  };
  // In the order of a round (see below): ours between the baseline and the naive variant.
  const all: Variant[] = [
    // The peers run as the product does, with NODE_ENV=production: graphql-js then skips its development-time
    // checks (about 6 µs per request for the bare baseline here, bench/PROFILE.md).
    { name: 'baseline', script: 'dist-bench/bench/baseline-server.js', env: { NODE_ENV: 'production' } },
    oursVariant,
    { name: 'naive', script: 'dist-bench/bench/naive-server.js', env: { ...shared, NODE_ENV: 'production' } },
    { name: 'mercurius', script: 'dist-bench/bench/mercurius-server.js', env: { ...shared, NODE_ENV: 'production' } },
    {
      name: 'baseline-express',
      script: 'dist-bench/bench/baseline-express-server.js',
      env: { NODE_ENV: 'production' },
    },
    // WEB_CONCURRENCY=2 on this 2-core machine, measured in the same run (same-token mode).
    { name: 'ours-2-workers', script: oursVariant.script, env: { ...oursVariant.env, WEB_CONCURRENCY: '2' } },
    // OpenTelemetry on, 10 % of traces sampled, exported over OTLP to a receiver in this process that drops them.
    {
      name: 'ours-traced',
      script: oursVariant.script,
      env: {
        ...oursVariant.env,
        OTEL_EXPORTER_OTLP_ENDPOINT: otlpSink.url,
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.1',
      },
    },
  ];
  if (args.compare) all.push({ ...oursVariant, name: 'compare', script: join(args.compare, 'main.js') });
  const variants = all.filter(
    (variant) => args.variants.split(',').includes(variant.name) || variant.name === 'compare',
  );
  const same = TokenPool.of([await idp.mint({ expiresInSeconds: 4 * 3600 })]);
  console.log(`minting ${FRESH_TOKENS} distinct tokens...`);
  const fresh = await mintFresh(idp, FRESH_TOKENS);
  const results: Result[] = [];
  /** Ratios of `ours` to another variant, one per round: both were measured minutes apart at most. */
  const paired = new Map<string, { rps: number[]; p99: number[] }>();
  const modes = (['same', 'fresh'] as const).filter((mode) => args.modes.split(',').includes(mode));
  for (const mode of modes) {
    const runs = new Map<string, Result[]>();
    // The Express baseline and the cluster variant answer narrower questions: same-token mode is enough.
    const inMode = variants.filter(
      (variant) => mode === 'same' || !['baseline-express', 'ours-2-workers', 'ours-traced'].includes(variant.name),
    );
    for (let round = 0; round < ROUNDS; round += 1) {
      // Ours next to the baseline and to the naive variant in every slice; the order is reversed every round too.
      const order = round % 2 === 0 ? inMode : [...inMode].reverse();
      for (const result of await measureRound(order, mode, same, fresh)) {
        console.log(JSON.stringify(result));
        runs.set(result.variant, [...(runs.get(result.variant) ?? []), result]);
      }
    }
    for (const variant of inMode) results.push(median(runs.get(variant.name) ?? []));
    const oursRuns = runs.get('ours') ?? [];
    const tracedRuns = runs.get('ours-traced') ?? [];
    if (oursRuns.length > 0 && tracedRuns.length > 0) {
      paired.set(`${mode}/traced`, {
        rps: tracedRuns.map((run, i) => run.requestsPerSecond / (oursRuns[i] as Result).requestsPerSecond),
        p99: tracedRuns.map((run, i) => run.p99 / (oursRuns[i] as Result).p99),
      });
    }
    for (const other of ['baseline', 'naive', 'mercurius', 'compare']) {
      const otherRuns = runs.get(other) ?? [];
      if (oursRuns.length === 0 || otherRuns.length === 0) continue;
      paired.set(`${mode}/${other}`, {
        rps: oursRuns.map((run, i) => run.requestsPerSecond / (otherRuns[i] as Result).requestsPerSecond),
        p99: oursRuns.map((run, i) => run.p99 / (otherRuns[i] as Result).p99),
      });
    }
  }
  const ours = variants.find((variant) => variant.name === 'ours');
  const soakResult = ours && SOAK > 0 ? await soak(ours, fresh.slice(0, 5000)) : undefined;
  const floodResult = ours && FLOOD > 0 ? await flood(ours) : undefined;
  const socketsResult = ours && SOCKETS > 0 ? await sockets(ours, idp) : undefined;
  const oboResult = ours && OBO_ROUNDS > 0 ? await onBehalfOf(ours) : undefined;
  await idp.close();
  await otlpSink.close();

  const find = (variant: string, mode: Mode) => results.find((r) => r.variant === variant && r.mode === mode);
  const lines: string[] = [];
  const targets: [string, boolean][] = [];
  const rounds = (values: number[]) => values.map((value) => value.toFixed(2)).join(', ');
  for (const mode of ['same', 'fresh'] as const) {
    const o = find('ours', mode);
    const b = find('baseline', mode);
    const n = find('naive', mode);
    const pb = paired.get(`${mode}/baseline`);
    if (o && b && pb) {
      const ratio = middle(pb.rps);
      const p99 = middle(pb.p99);
      lines.push(
        `- ${mode} token: ours/baseline req/s = **${ratio.toFixed(2)}** (rounds: ${rounds(pb.rps)}), ` +
          `p99 ours/baseline = **${p99.toFixed(2)}** (rounds: ${rounds(pb.p99)})`,
      );
      targets.push([
        `${mode}-token req/s >= ${mode === 'same' ? '0.90' : '0.50'} of baseline`,
        ratio >= (mode === 'same' ? 0.9 : 0.5),
      ]);
      targets.push([`${mode}-token p99 <= 1.5x baseline`, p99 <= 1.5]);
    }
    const pn = paired.get(`${mode}/naive`);
    if (o && n && pn) lines.push(`- ${mode} token: ours/naive req/s = **${middle(pn.rps).toFixed(2)}**`);
    const pc = paired.get(`${mode}/compare`);
    if (o && pc) {
      lines.push(
        `- ${mode} token: ours/compare (${args.compare}) req/s = **${middle(pc.rps).toFixed(2)}**, ` +
          `p99 = **${middle(pc.p99).toFixed(2)}**`,
      );
    }
    const pm = paired.get(`${mode}/mercurius`);
    if (o && pm) {
      lines.push(
        `- ${mode} token: ours/mercurius req/s = **${middle(pm.rps).toFixed(2)}** (rounds: ${rounds(pm.rps)}), ` +
          `p99 ours/mercurius = **${middle(pm.p99).toFixed(2)}** (rounds: ${rounds(pm.p99)})`,
      );
      targets.push([`${mode}-token req/s >= 1.00 of mercurius`, middle(pm.rps) >= 1]);
      targets.push([`${mode}-token p99 <= mercurius's`, middle(pm.p99) <= 1]);
    }
  }
  const clustered = find('ours-2-workers', 'same');
  const single = find('ours', 'same');
  if (clustered && single) {
    lines.push(
      `- WEB_CONCURRENCY=2 / 1 req/s (same token, load generator on the same 2 cores) = **${(clustered.requestsPerSecond / single.requestsPerSecond).toFixed(2)}**`,
    );
  }
  const traced = paired.get('same/traced');
  if (traced) {
    lines.push(
      `- OpenTelemetry on (10 % of traces sampled, OTLP to a local receiver) / off, same token: req/s = **${middle(traced.rps).toFixed(2)}**, p99 = **${middle(traced.p99).toFixed(2)}**`,
    );
  }
  const express = find('baseline-express', 'same');
  const fastify = find('baseline', 'same');
  if (express && fastify) {
    lines.push(
      `- HTTP integration: bare Apollo on Fastify 5 / on Express 5 req/s = **${(fastify.requestsPerSecond / express.requestsPerSecond).toFixed(2)}**`,
    );
  }
  if (soakResult) {
    const { after100k, after1m } = soakResult;
    const growth = after1m.collected / after100k.collected;
    const mb = (value: number) => `${value.toFixed(0)} MB`;
    lines.push(
      `- memory: RSS after ${SOAK / 10} requests ${mb(after100k.collected)}, after ${SOAK} ${mb(after1m.collected)} ` +
        `(x${growth.toFixed(3)}), each read after a full collection; as the load left it, before that collection: ` +
        `${mb(after100k.asLeft)} and ${mb(after1m.asLeft)} (x${(after1m.asLeft / after100k.asLeft).toFixed(3)}); ` +
        `${soakResult.errors} errors`,
    );
    targets.push([`RSS after ${SOAK} within 10% of RSS after ${SOAK / 10} (after a full collection)`, growth <= 1.1]);
  }
  if (floodResult) {
    const [first, , last] = floodResult.readings as [FloodResult['readings'][0], unknown, FloodResult['readings'][0]];
    const growth = last.rss.collected / first.rss.collected;
    lines.push(
      `- address flood (forged tokens, a new IPv6 /64 per request): RSS after a full collection ` +
        floodResult.readings
          .map(({ addresses, rss }) => `${rss.collected.toFixed(0)} MB after ${addresses}`)
          .join(', ') +
        ` distinct addresses (x${growth.toFixed(3)} from the first to the last); ${floodResult.errors} errors`,
    );
    targets.push([
      `address flood: RSS after ${last.addresses} addresses within 10% of RSS after ${first.addresses}`,
      growth <= 1.1,
    ]);
  }
  if (socketsResult) {
    const { before, open, closeDelaysMs } = socketsResult;
    const perSocketKb = ((open.collected - before.collected) * 1024) / SOCKETS;
    const sorted = [...closeDelaysMs].sort((a, b) => a - b);
    const latest = sorted[sorted.length - 1] ?? Number.NaN;
    lines.push(
      `- WebSockets: RSS after a full collection ${before.collected.toFixed(0)} MB with one socket open, ` +
        `${open.collected.toFixed(0)} MB with ${SOCKETS} more, each authenticated and subscribed to greetings: ` +
        `**${perSocketKb.toFixed(1)} KB per socket** (server process); ${socketsResult.errors} errors`,
      `- WebSockets: from a token's exp to its socket's close (AZURE_CLOCK_SKEW_SECONDS=0), ${EXPIRING_SOCKETS} sockets: ` +
        `median **${middle(closeDelaysMs).toFixed(0)} ms**, latest ${latest.toFixed(0)} ms, earliest ${(sorted[0] ?? Number.NaN).toFixed(0)} ms`,
    );
    targets.push([
      `every socket closed with 4403 within 1 s after its token's exp (plus the skew)`,
      sorted[0]! >= 0 && latest <= 1000,
    ]);
  }
  if (oboResult) {
    const ratios = oboResult.rounds.map(({ hello, profile }) => profile.requestsPerSecond / hello.requestsPerSecond);
    const added = (pick: (tally: Tally) => number) =>
      middle(oboResult.rounds.map(({ hello, profile }) => pick(profile) - pick(hello)));
    const helloRps = middle(oboResult.rounds.map(({ hello }) => hello.requestsPerSecond));
    const profileRps = middle(oboResult.rounds.map(({ profile }) => profile.requestsPerSecond));
    lines.push(
      `- on-behalf-of, User.profile on a cache hit vs hello without it (one server, one token, ${OBO_ROUNDS} rounds, ` +
        `alternating slices; Graph is a stand-in in another process over HTTPS): hello ${helloRps.toFixed(0)} req/s, ` +
        `with profile ${profileRps.toFixed(0)} req/s, ratio **${middle(ratios).toFixed(2)}** (rounds: ` +
        `${ratios.map((ratio) => ratio.toFixed(2)).join(', ')}); added per request: **${added((t) => t.cpuMicrosPerRequest).toFixed(0)} µs** ` +
        `of server CPU, p50 +${added((t) => t.p50).toFixed(1)} ms, p99 +${added((t) => t.p99).toFixed(1)} ms; ` +
        `token-endpoint exchanges ${oboResult.acquired} (one per server), cache hits ${oboResult.cacheHits}; ${oboResult.errors} errors`,
    );
    targets.push([
      'on-behalf-of: one token-endpoint exchange per server and token, every other request a cache hit',
      oboResult.acquired === OBO_ROUNDS && oboResult.cacheHits > 0,
    ]);
  }
  const errors =
    (oboResult?.errors ?? 0) +
    results.reduce((sum, r) => sum + r.errors, 0) +
    (soakResult?.errors ?? 0) +
    (floodResult?.errors ?? 0) +
    (socketsResult?.errors ?? 0);
  const report = [
    '# Benchmark results',
    '',
    `Command: \`npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\``,
    `Date: ${new Date().toISOString()}`,
    `Machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${process.platform}`,
    `Load: autocannon in the orchestrating process, ${CONNECTIONS} connections, ${WARMUP} s warm-up then ${DURATION} s measured, over loopback, tokens held in one off-heap buffer; a new server process per variant and round. ${ROUNDS} rounds; in each, every variant warmed up, then the variants took turns in ${SLICES} slices of ${DURATION / SLICES} s each (ours next to the baseline, the order reversed every slice and every round); p50 and p99 are of all the round's responses; the table shows the median round; ratios are the median of per-round ratios.`,
    '',
    table(results),
    '',
    ...lines,
    '',
    '## Targets',
    '',
    ...targets.map(([name, ok]) => `- ${ok ? 'met' : 'MISSED'}: ${name}`),
    '',
    `Responses checked: every one must be 200 and greet the expected user; errors in this run: ${errors}.`,
    '',
  ].join('\n');
  console.log(`\n${report}`);
  if (!args['no-write']) writeFileSync(join(root, 'bench/RESULTS.md'), report);
  if (errors > 0) {
    console.error(`${errors} responses were not a 200 greeting: the run fails`);
    process.exit(1);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

/** An OTLP/HTTP receiver that answers every export with 200 and keeps nothing. */
async function startOtlpSink(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
