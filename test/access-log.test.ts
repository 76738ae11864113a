import { setImmediate as nextTurn } from 'node:timers/promises';
import { createAccessLog, type AccessRecord } from '../src/observability/access-log';
import { createLogger } from '../src/observability/logger';
import { createMetrics } from '../src/observability/metrics';

function setup() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('info', { write: (line: string) => lines.push(JSON.parse(line)) });
  const metrics = createMetrics();
  const accessLog = createAccessLog(logger, metrics.requestDuration);
  const samples = async (status: number) => {
    const text = await metrics.registry.getSingleMetricAsString('http_request_duration_seconds');
    const count = new RegExp(`^http_request_duration_seconds_count\\{status="${status}"\\} (\\d+)$`, 'm').exec(text);
    return Number(count?.[1] ?? 0);
  };
  return { lines, accessLog, samples };
}

const entry = (requestId: string, status: number, durationMs: number): AccessRecord => ({
  requestId,
  method: 'POST',
  path: '/graphql',
  clientAddress: '127.0.0.1',
  status,
  durationMs,
});

describe('access log', () => {
  it('writes the lines and samples of one event-loop turn together, in order, before the next turn', async () => {
    const { lines, accessLog, samples } = setup();
    accessLog.record(entry('a', 200, 1.25));
    accessLog.record(entry('b', 401, 0.5));
    accessLog.record(entry('c', 200, 30));
    expect(lines).toEqual([]);
    expect(await samples(200)).toBe(0);

    await nextTurn();
    expect(lines.map(({ requestId, status, durationMs, msg }) => ({ requestId, status, durationMs, msg }))).toEqual([
      { requestId: 'a', status: 200, durationMs: 1.25, msg: 'request completed' },
      { requestId: 'b', status: 401, durationMs: 0.5, msg: 'request completed' },
      { requestId: 'c', status: 200, durationMs: 30, msg: 'request completed' },
    ]);
    expect(lines[0]).toEqual({
      level: 30,
      time: expect.any(Number),
      service: 'entra-graphql-api',
      pid: process.pid,
      requestId: 'a',
      method: 'POST',
      path: '/graphql',
      clientAddress: '127.0.0.1',
      status: 200,
      durationMs: 1.25,
      msg: 'request completed',
    });
    expect(await samples(200)).toBe(2);
    expect(await samples(401)).toBe(1);
  });

  it('starts a new batch after a flush and writes nothing twice', async () => {
    const { lines, accessLog, samples } = setup();
    accessLog.record(entry('a', 200, 1));
    await nextTurn();
    accessLog.record(entry('b', 200, 2));
    await nextTurn();
    await nextTurn();
    expect(lines.map((line) => line['requestId'])).toEqual(['a', 'b']);
    expect(await samples(200)).toBe(2);
  });

  it('writes what is queued at once on flush (at shutdown), and the scheduled turn then finds nothing', async () => {
    const { lines, accessLog, samples } = setup();
    accessLog.record(entry('a', 200, 1));
    accessLog.flush();
    expect(lines.map((line) => line['requestId'])).toEqual(['a']);
    await nextTurn();
    expect(lines).toHaveLength(1);
    expect(await samples(200)).toBe(1);
  });
});
