import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { MAX_BATCH, SignatureThread } from '../../src/auth/signature-thread';

const rsa = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
const first = rsa();
const second = rsa();
const signed = (input: string, privateKey: KeyObject) =>
  sign('sha256', Buffer.from(input, 'latin1'), privateKey).toString('base64url');

let thread: SignatureThread;
beforeEach(() => {
  thread = new SignatureThread();
});
afterEach(() => thread.close());

describe('the signature-check thread', () => {
  it('answers every check of one turn, under two keys, as node:crypto would', async () => {
    const input = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZGEifQ';
    const byFirst = signed(input, first.privateKey);
    const bySecond = signed(input, second.privateKey);
    const checks: [string, string, KeyObject][] = [
      [input, byFirst, first.publicKey],
      [input, bySecond, second.publicKey],
      [input, bySecond, first.publicKey],
      [`${input}x`, byFirst, first.publicKey],
      [input, byFirst.slice(0, -4), first.publicKey],
      [input, '', first.publicKey],
      [input, byFirst, first.publicKey],
    ];
    const answers = await Promise.all(checks.map((check) => thread.check(...check)));
    expect(answers).toEqual([true, true, false, false, false, false, true]);
  });

  it('splits a turn of more checks than one batch holds and answers each', async () => {
    const count = 2 * MAX_BATCH + 5;
    const inputs = Array.from({ length: count }, (_, i) => `header.payload-${i}`);
    const answers = await Promise.all(
      inputs.map((input, i) =>
        thread.check(input, signed(i % 3 === 0 ? `${input}!` : input, first.privateKey), first.publicKey),
      ),
    );
    expect(answers).toEqual(inputs.map((_, i) => i % 3 !== 0));
  });

  it('refuses a check that cannot run with an error and still answers the rest of its batch', async () => {
    const { publicKey: x25519 } = generateKeyPairSync('x25519');
    const input = 'a.b';
    const [good, broken, bad] = await Promise.allSettled([
      thread.check(input, signed(input, first.privateKey), first.publicKey),
      thread.check(input, signed(input, first.privateKey), x25519),
      thread.check(input, signed(input, second.privateKey), first.publicKey),
    ]);
    expect(good).toEqual({ status: 'fulfilled', value: true });
    expect(broken).toMatchObject({
      status: 'rejected',
      reason: { message: expect.stringMatching(/^RS256 check failed: /) },
    });
    expect(bad).toEqual({ status: 'fulfilled', value: false });
  });

  it('refuses the checks in flight when the thread stops, and the next check starts a new thread', async () => {
    const input = 'a.b';
    thread.start();
    const inFlight = thread.check(input, signed(input, first.privateKey), first.publicKey);
    await new Promise(setImmediate);
    await thread.close();
    await expect(inFlight).rejects.toThrow('The signature-check thread was stopped');
    await expect(thread.check(input, signed(input, first.privateKey), first.publicKey)).resolves.toBe(true);
  });

  it('refuses the checks in flight when the thread dies, and the next check starts a new thread', async () => {
    const input = 'a.b';
    thread.start();
    const inFlight = thread.check(input, signed(input, first.privateKey), first.publicKey);
    await new Promise(setImmediate);
    // What a crash of the thread looks like from outside: it ends without close().
    await (thread as unknown as { worker: Worker }).worker.terminate();
    await expect(inFlight).rejects.toThrow(/^The signature-check thread stopped unexpectedly \(exit code \d+\)$/);
    await expect(thread.check(input, signed(input, first.privateKey), first.publicKey)).resolves.toBe(true);
  });

  it('refuses a batch it cannot send to the thread, and keeps working', async () => {
    const notAKey = (() => undefined) as unknown as KeyObject;
    await expect(thread.check('a.b', 'c2ln', notAKey)).rejects.toThrow(/could not be cloned/);
    await expect(thread.check('a.b', signed('a.b', first.privateKey), first.publicKey)).resolves.toBe(true);
  });

  it('answers under fake timers, which stop the global setImmediate', async () => {
    jest.useFakeTimers();
    try {
      await expect(thread.check('a.b', signed('a.b', first.privateKey), first.publicKey)).resolves.toBe(true);
    } finally {
      jest.useRealTimers();
    }
  });

  it('keeps the process alive while a check is in flight, and not while the thread is idle', () => {
    const compiled = join(resolve(__dirname, '../..'), 'dist/auth/signature-thread.js');
    if (!existsSync(compiled)) throw new Error('dist/ is missing: run `npm run build` (npm test does it first)');
    const run = (then: string) => {
      const script = `
        const { generateKeyPairSync, sign } = require('node:crypto');
        const { signatureThread } = require(${JSON.stringify(compiled)});
        const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
        const signature = sign('sha256', Buffer.from('a.b'), privateKey).toString('base64url');
        signatureThread.start();
        ${then}
      `;
      const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10000 });
      return { status: child.status, signal: child.signal, stdout: child.stdout, stderr: child.stderr };
    };
    expect(run('')).toEqual({ status: 0, signal: null, stdout: '', stderr: '' });
    expect(
      run(`signatureThread.check('a.b', signature, publicKey).then((valid) => console.log('valid', valid));`),
    ).toEqual({ status: 0, signal: null, stdout: 'valid true\n', stderr: '' });
  });
});
