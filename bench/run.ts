// `npm run bench`: drives the authenticated `hello` over loopback with autocannon against the production server,
// a bare Apollo baseline and a naive jose variant, in the same run, and writes bench/RESULTS.md.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import autocannon from 'autocannon';
import { startIdentityProvider, type IdentityProvider } from '../src/dev/identity-provider';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '15' },
    /** Each variant is measured this many times, alternating, and the median run is kept: the host is noisy. */
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '5' },
    connections: { type: 'string', default: '64' },
    'fresh-tokens': { type: 'string', default: '150000' },
    'soak-requests': { type: 'string', default: '1000000' },
    variants: { type: 'string', default: 'baseline,naive,ours' },
    modes: { type: 'string', default: 'same,fresh' },
    'no-write': { type: 'boolean', default: false },
    /** Write a CPU profile of each server to reports/ (node --cpu-prof). */
    profile: { type: 'boolean', default: false },
  },
});
const DURATION = Number(args.duration);
const WARMUP = Number(args.warmup);
const CONNECTIONS = Number(args.connections);
const FRESH_TOKENS = Number(args['fresh-tokens']);
const SOAK = Number(args['soak-requests']);
const ROUNDS = Number(args.rounds);
const root = join(__dirname, '../..');
const USERNAME = '"username":"ada@contoso.example"';
const BODY = JSON.stringify({ query: '{ hello { username employeeId scopes } }' });

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

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startVariant(variant: Variant): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  // Logs go to /dev/null: they are still produced and serialised, as in production.
  const profiling = args.profile
    ? [
        '--cpu-prof',
        `--cpu-prof-dir=${join(root, 'reports/profiles')}`,
        `--cpu-prof-name=${variant.name}-${port}.cpuprofile`,
      ]
    : [];
  const child = spawn(process.execPath, [...profiling, join(root, variant.script)], {
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
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function memoryOf(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${field}:`));
  return Number(line?.replace(/\D/g, '') ?? 0) / 1024;
}

/** Runs autocannon; every response must be a 200 greeting the expected user. */
async function drive(
  url: string,
  tokens: readonly string[],
  options: { duration?: number; amount?: number; cycle: boolean },
) {
  let next = 0;
  let exhausted = false;
  let bad = 0;
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    ...(options.amount ? { amount: options.amount } : { duration: options.duration ?? DURATION }),
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: BODY,
    requests: [
      {
        setupRequest(request: autocannon.Request) {
          if (next >= tokens.length) {
            if (!options.cycle) exhausted = true;
            next = 0;
          }
          request.headers = { 'content-type': 'application/json', authorization: `Bearer ${tokens[next]}` };
          next += 1;
          return request;
        },
        onResponse(status: number, body: string) {
          if (status !== 200 || !body.includes(USERNAME)) bad += 1;
        },
      },
    ],
  });
  return { result, bad, exhausted, used: next };
}

async function mintFresh(idp: IdentityProvider, count: number): Promise<string[]> {
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
  return batches.flat();
}

async function measure(variant: Variant, mode: Mode, same: string, fresh: string[]): Promise<Result> {
  const { url, child } = await startVariant(variant);
  try {
    const tokens = mode === 'same' ? [same] : fresh;
    // Warm-up and measured run use disjoint fresh tokens, so no measured request can hit a cache.
    const warmupTokens = mode === 'same' ? tokens : tokens.slice(0, Math.floor(tokens.length / 4));
    const measuredTokens = mode === 'same' ? tokens : tokens.slice(warmupTokens.length);
    await drive(url, warmupTokens, { duration: WARMUP, cycle: true });
    const cpuBefore = cpuSecondsOf(child.pid as number);
    const run = await drive(url, measuredTokens, {
      duration: DURATION,
      cycle: mode === 'same' || variant.name.startsWith('baseline'),
    });
    const { result } = run;
    const cpu = cpuSecondsOf(child.pid as number) - cpuBefore;
    const errors = run.bad + result.errors + result.timeouts + result.non2xx;
    if (run.exhausted) throw new Error(`${variant.name}/${mode}: ran out of fresh tokens; raise --fresh-tokens`);
    return {
      variant: variant.name,
      mode,
      requestsPerSecond: result.requests.average,
      p50: result.latency.p50,
      p99: result.latency.p99,
      peakRssMb: memoryOf(child.pid as number, 'VmHWM'),
      cpuMicrosPerRequest: (cpu * 1e6) / result.requests.total,
      requests: result.requests.total,
      errors,
    };
  } finally {
    await stop(child);
  }
}

/** SIGINT lets a profiled server write its profile; SIGKILL follows if it does not exit. */
async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(args.profile ? 'SIGINT' : 'SIGKILL');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function soak(
  variant: Variant,
  tokens: readonly string[],
): Promise<{ after100k: number; after1m: number; errors: number }> {
  const { url, child } = await startVariant(variant);
  try {
    const first = await drive(url, tokens, { amount: Math.round(SOAK / 10), cycle: true });
    const after100k = memoryOf(child.pid as number, 'VmRSS');
    const rest = await drive(url, tokens, { amount: SOAK - Math.round(SOAK / 10), cycle: true });
    const after1m = memoryOf(child.pid as number, 'VmRSS');
    const errors = [first, rest].reduce((sum, run) => sum + run.bad + run.result.errors + run.result.non2xx, 0);
    return { after100k, after1m, errors };
  } finally {
    child.kill('SIGKILL');
  }
}

/** The run with the median requests/s; errors of every run count. */
function median(runs: Result[]): Result {
  const sorted = [...runs].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
  const middle = sorted[Math.floor(sorted.length / 2)] as Result;
  return { ...middle, errors: runs.reduce((sum, run) => sum + run.errors, 0) };
}

function table(results: Result[]): string {
  const rows = results.map(
    (r) =>
      `| ${r.variant} | ${r.mode} | ${r.requestsPerSecond.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.peakRssMb.toFixed(0)} | ${r.cpuMicrosPerRequest.toFixed(0)} | ${r.requests} | ${r.errors} |`,
  );
  return [
    '| variant | tokens | req/s | p50 ms | p99 ms | peak RSS MB | requests | errors |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

async function main(): Promise<void> {
  const idp = await startIdentityProvider();
  const shared = {
    AZURE_TENANT_ID: idp.tenantId,
    AZURE_CLIENT_ID: idp.clientId,
    AZURE_AUTHORITY_HOST: idp.url,
  };
  const all: Variant[] = [
    { name: 'baseline', script: 'dist-bench/bench/baseline-server.js', env: {} },
    { name: 'baseline-fastify', script: 'dist-bench/bench/baseline-fastify-server.js', env: {} },
    { name: 'naive', script: 'dist-bench/bench/naive-server.js', env: shared },
    {
      name: 'ours',
      script: 'dist/main.js',
      env: {
        ...shared,
        NODE_ENV: 'production',
        LOG_LEVEL: 'info',
        API_REQUIRED_SCOPES: 'access_as_user',
        RATE_LIMIT_CALLER_REQUESTS: '1000000000',
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('X_'))),
        ...(process.env['WEB_CONCURRENCY'] ? { WEB_CONCURRENCY: process.env['WEB_CONCURRENCY'] } : {}),
      },
    },
  ];
  const variants = all.filter((variant) => args.variants.split(',').includes(variant.name));
  const same = await idp.mint({ expiresInSeconds: 4 * 3600 });
  console.log(`minting ${FRESH_TOKENS} distinct tokens...`);
  const fresh = await mintFresh(idp, FRESH_TOKENS);
  const results: Result[] = [];
  const modes = (['same', 'fresh'] as const).filter((mode) => args.modes.split(',').includes(mode));
  for (const mode of modes) {
    const runs = new Map<string, Result[]>();
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const variant of variants) {
        const result = await measure(variant, mode, same, fresh);
        console.log(JSON.stringify(result));
        runs.set(variant.name, [...(runs.get(variant.name) ?? []), result]);
      }
    }
    for (const variant of variants) results.push(median(runs.get(variant.name) ?? []));
  }
  const ours = variants.find((variant) => variant.name === 'ours');
  const soakResult = ours && SOAK > 0 ? await soak(ours, fresh.slice(0, 5000)) : undefined;
  await idp.close();

  const find = (variant: string, mode: Mode) => results.find((r) => r.variant === variant && r.mode === mode);
  const lines: string[] = [];
  const targets: [string, boolean][] = [];
  for (const mode of ['same', 'fresh'] as const) {
    const o = find('ours', mode);
    const b = find('baseline', mode);
    const n = find('naive', mode);
    if (o && b) {
      const ratio = o.requestsPerSecond / b.requestsPerSecond;
      const p99 = o.p99 / b.p99;
      lines.push(
        `- ${mode} token: ours/baseline req/s = **${ratio.toFixed(2)}**, p99 ours/baseline = **${p99.toFixed(2)}**`,
      );
      targets.push([
        `${mode}-token req/s >= ${mode === 'same' ? '0.80' : '0.50'} of baseline`,
        ratio >= (mode === 'same' ? 0.8 : 0.5),
      ]);
      targets.push([`${mode}-token p99 <= 1.5x baseline`, p99 <= 1.5]);
    }
    if (o && n)
      lines.push(`- ${mode} token: ours/naive req/s = **${(o.requestsPerSecond / n.requestsPerSecond).toFixed(2)}**`);
  }
  if (soakResult) {
    const growth = soakResult.after1m / soakResult.after100k;
    lines.push(
      `- memory: RSS after ${SOAK / 10} requests ${soakResult.after100k.toFixed(0)} MB, after ${SOAK} ${soakResult.after1m.toFixed(0)} MB (x${growth.toFixed(3)}), ${soakResult.errors} errors`,
    );
    targets.push([`RSS after ${SOAK} within 10% of RSS after ${SOAK / 10}`, growth <= 1.1]);
  }
  const errors = results.reduce((sum, r) => sum + r.errors, 0) + (soakResult?.errors ?? 0);
  const report = [
    '# Benchmark results',
    '',
    `Command: \`npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\`${process.env['WEB_CONCURRENCY'] ? ` with WEB_CONCURRENCY=${process.env['WEB_CONCURRENCY']}` : ''}`,
    `Date: ${new Date().toISOString()}`,
    `Machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${process.platform}`,
    `Load: autocannon in the orchestrating process, ${CONNECTIONS} connections, ${WARMUP} s warm-up then ${DURATION} s measured, over loopback; one server process per variant. Each variant ran ${ROUNDS} times, alternating with the others; the table shows the median run.`,
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
