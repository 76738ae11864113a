import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Config } from './config';
import type { Logger } from './observability/logger';

const METRICS_REQUEST = 'group-metrics:request';
const METRICS_RESPONSE = 'group-metrics:response';
const MAX_RESTART_DELAY_MS = 30_000;

/**
 * The primary of WEB_CONCURRENCY workers sharing one port. A worker that dies is replaced at once; one that dies
 * before it listens (the port taken, the configuration refused by a dependency) is replaced after a delay that
 * doubles up to 30 s, so a fault that persists does not become a tight fork loop. Signals are passed on to the
 * workers, and a worker's request for the group's metrics is answered with every worker's metrics aggregated.
 *
 * Connections are distributed by the operating system (SCHED_NONE: every worker accepts on the shared socket), not
 * by Node's default round robin, where the primary accepts each connection and hands it to a worker: when that
 * worker died before taking it, the primary kept the connection open and unanswered until it stopped (a request
 * sent within ~20 ms of a SIGKILL hung, its socket left in CLOSE_WAIT; test/cluster.test.ts). With SCHED_NONE a dead
 * worker's connections are closed by the kernel, and those still queued are accepted by the others. On Linux the
 * kernel wakes whichever worker waits, so the spread is less even than round robin under light load
 * (bench/RESULTS.md measures the throughput of two workers).
 */
export function supervise(config: Config, logger: Logger): void {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let stopping = false;
  let failedStarts = 0;
  const workers = new Map<Worker, { startedAt: number; listening: boolean }>();
  const aggregator = new AggregatorRegistry();

  const fork = () => workers.set(cluster.fork(), { startedAt: Date.now(), listening: false });
  for (let i = 0; i < config.webConcurrency; i += 1) fork();

  cluster.on('listening', (worker) => {
    const state = workers.get(worker);
    if (state) state.listening = true;
    failedStarts = 0;
  });
  cluster.on('exit', (worker, code, signal) => {
    const state = workers.get(worker);
    workers.delete(worker);
    if (stopping) {
      if (workers.size === 0) process.exit(0);
      return;
    }
    const ranMs = Date.now() - (state?.startedAt ?? 0);
    failedStarts = state?.listening ? 0 : failedStarts + 1;
    const delayMs = failedStarts === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 1000 * 2 ** (failedStarts - 1));
    logger.error(
      { event: 'worker_exited', pid: worker.process.pid, code, signal, ranMs, restartInMs: delayMs },
      'Worker exited; starting another',
    );
    setTimeout(() => {
      if (!stopping) fork();
    }, delayMs);
  });

  cluster.on('message', (worker, message: { type?: string; id?: number }) => {
    if (message?.type !== METRICS_REQUEST) return;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: METRICS_RESPONSE, id: message.id, text }),
      (error: Error) => worker.send({ type: METRICS_RESPONSE, id: message.id, error: error.message }),
    );
  });

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'stopping', signal, workers: workers.size }, 'Stopping workers');
    if (workers.size === 0) process.exit(0);
    for (const worker of workers.keys()) worker.process.kill(signal);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/**
 * In a worker: offers this worker's registry to the primary's aggregation, and returns the function that asks the
 * primary for the metrics of the whole group (what `/metrics` serves).
 */
export function groupMetricsOfWorker(own: Registry): () => Promise<string> {
  // Creating one makes prom-client answer the primary's requests for this worker's metrics.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([own]);
  const pending = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  process.on('message', (message: { type?: string; id?: number; text?: string; error?: string }) => {
    if (message?.type !== METRICS_RESPONSE || message.id === undefined) return;
    const request = pending.get(message.id);
    pending.delete(message.id);
    if (message.error !== undefined) request?.reject(new Error(message.error));
    else request?.resolve(message.text ?? '');
  });
  return () => {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      process.send?.({ type: METRICS_REQUEST, id });
    });
  };
}
