import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Config } from './config';
import type { Logger } from './logger';

const METRICS_REQUEST = 'group-metrics:request';
const METRICS_RESPONSE = 'group-metrics:response';
/** A worker that exits sooner than this after its start failed to start: its replacement waits. */
const HEALTHY_AFTER_MS = 10_000;
const MAX_RESTART_DELAY_MS = 30_000;

/**
 * The primary of WEB_CONCURRENCY workers sharing one port. A worker that dies is replaced; one that dies while
 * starting (the port taken, the configuration refused by a dependency) is replaced after a delay that doubles up to
 * 30 s, so a fault that persists does not become a tight fork loop. Signals are passed on to the workers, and a
 * worker's request for the group's metrics is answered with every worker's metrics aggregated.
 */
export function supervise(config: Config, logger: Logger): void {
  let stopping = false;
  let quickFailures = 0;
  const startedAt = new Map<Worker, number>();
  const aggregator = new AggregatorRegistry();

  const fork = () => startedAt.set(cluster.fork(), Date.now());
  for (let i = 0; i < config.webConcurrency; i += 1) fork();

  cluster.on('exit', (worker, code, signal) => {
    const ranMs = Date.now() - (startedAt.get(worker) ?? 0);
    startedAt.delete(worker);
    if (stopping) {
      if (startedAt.size === 0) process.exit(0);
      return;
    }
    quickFailures = ranMs < HEALTHY_AFTER_MS ? quickFailures + 1 : 0;
    const delayMs = quickFailures === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 1000 * 2 ** (quickFailures - 1));
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
    logger.info({ event: 'stopping', signal, workers: startedAt.size }, 'Stopping workers');
    if (startedAt.size === 0) process.exit(0);
    for (const worker of startedAt.keys()) worker.process.kill(signal);
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
