import type { KeyObject } from 'node:crypto';
// Not the global one, which jest's fake timers replace: a check is not a timer and must not wait for one.
import { setImmediate } from 'node:timers';
import { Worker } from 'node:worker_threads';

/** Checks in one message at most: a batch's answers come back together, so this bounds how long a check waits. */
export const MAX_BATCH = 64;

// The thread's code, kept in this file so that src/auth works from source, from dist and when copied elsewhere.
// Each message holds the batch's distinct keys and, per check, [key index, signing input, base64url signature].
const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { verify } = require('node:crypto');
parentPort.on('message', ({ id, keys, checks }) => {
  const valid = new Uint8Array(checks.length / 3);
  const failures = [];
  for (let i = 0; i < valid.length; i += 1) {
    try {
      const input = Buffer.from(checks[3 * i + 1], 'latin1');
      const signature = Buffer.from(checks[3 * i + 2], 'base64url');
      valid[i] = verify('sha256', input, keys[checks[3 * i]], signature) ? 1 : 0;
    } catch (error) {
      failures.push([i, String(error && error.message)]);
    }
  }
  parentPort.postMessage({ id, valid, failures });
});
`;

interface Waiter {
  resolve(valid: boolean): void;
  reject(error: Error): void;
}

interface Batch {
  readonly keys: KeyObject[];
  readonly checks: (number | string)[];
  readonly waiters: Waiter[];
}

interface Answer {
  readonly id: number;
  readonly valid: Uint8Array;
  readonly failures: readonly [number, string][];
}

/**
 * RS256 signature checks (RSASSA-PKCS1-v1_5 with SHA-256) on one worker thread, sent in batches: every check asked
 * for during one event-loop turn goes in one message, and the thread runs them back to back.
 *
 * node:crypto's callback form hands each check to libuv's pool instead, which wakes a pool thread per token. Under
 * load on two cores those threads took turns with the event loop, and every check started on cold caches; one
 * thread working through a batch cost the event loop a third less per fresh token (bench/PROFILE.md, sixth pass).
 * libuv's pool also stays free for what else needs it: DNS lookups for key fetches and log writes.
 *
 * The thread keeps the process alive only while checks are in flight. If it dies, the checks in flight are refused
 * with an error and the next check starts a new thread.
 */
export class SignatureThread {
  private worker: Worker | undefined;
  private queued: Batch | undefined;
  private readonly inFlight = new Map<number, Waiter[]>();
  private nextId = 0;
  private stopping: Worker | undefined;

  /** Resolves to whether `signature` (base64url) is a valid RS256 signature of `signingInput` under `key`. */
  check(signingInput: string, signature: string, key: KeyObject): Promise<boolean> {
    return new Promise((resolve, reject) => {
      let batch = this.queued;
      if (!batch) {
        const opened: Batch = { keys: [], checks: [], waiters: [] };
        setImmediate(() => this.send(opened));
        batch = this.queued = opened;
      }
      let keyIndex = batch.keys.indexOf(key);
      if (keyIndex === -1) keyIndex = batch.keys.push(key) - 1;
      batch.checks.push(keyIndex, signingInput, signature);
      batch.waiters.push({ resolve, reject });
      if (batch.waiters.length === MAX_BATCH) this.send(batch);
    });
  }

  /** Starts the thread now rather than on the first check, which would otherwise wait for it. */
  start(): void {
    if (!this.worker) this.spawn();
  }

  /** Stops the thread; checks in flight are refused. A later check starts a new one. */
  async close(): Promise<void> {
    this.stopping = this.worker;
    await this.worker?.terminate();
  }

  private send(batch: Batch): void {
    if (this.queued !== batch) return;
    this.queued = undefined;
    const worker = this.worker ?? this.spawn();
    const id = this.nextId++;
    try {
      worker.postMessage({ id, keys: batch.keys, checks: batch.checks });
    } catch (error) {
      // Only a key that is not a KeyObject gets here (it cannot be copied to the thread).
      for (const waiter of batch.waiters) waiter.reject(error as Error);
      return;
    }
    if (this.inFlight.size === 0) worker.ref();
    this.inFlight.set(id, batch.waiters);
  }

  private spawn(): Worker {
    const worker = new Worker(THREAD_SOURCE, { eval: true });
    worker.on('message', ({ id, valid, failures }: Answer) => {
      const waiters = this.inFlight.get(id) as Waiter[];
      this.inFlight.delete(id);
      if (this.inFlight.size === 0) worker.unref();
      const failed = new Map(failures);
      waiters.forEach((waiter, index) => {
        const failure = failed.get(index);
        if (failure === undefined) waiter.resolve(valid[index] === 1);
        else waiter.reject(new Error(`RS256 check failed: ${failure}`));
      });
    });
    // An error the thread does not catch ends it, and 'exit' follows: without this listener it would end the process.
    worker.on('error', () => undefined);
    worker.on('exit', (code) => {
      this.lost(
        new Error(
          this.stopping === worker
            ? 'The signature-check thread was stopped'
            : `The signature-check thread stopped unexpectedly (exit code ${code})`,
        ),
      );
    });
    // After the listeners, which would take a reference again.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  /** The thread has ended (a worker is replaced only once it has). */
  private lost(error: Error): void {
    this.worker = undefined;
    const waiters = [...this.inFlight.values()].flat();
    this.inFlight.clear();
    for (const waiter of waiters) waiter.reject(error);
  }
}

/** The process's one signature thread, shared by every verifier (as libuv's pool would be). */
export const signatureThread = new SignatureThread();
