import { existsSync } from 'node:fs';
import { CHROMIUM, CONTAINER_TOOLS, REDIS_SERVER } from './helpers/services';
import { SHARED_REAL_TOKENS } from './helpers/shared';

/**
 * Says once, in one line each, which suites this run skips and why, before any test runs: a clone without
 * `../shared`, or a machine without redis-server, Chromium or the container tools. (CI has them all: there a missing one fails its
 * suite instead.)
 */
export default function announceSkips(): void {
  if (process.env['CI']) return;
  const skipped = [
    existsSync(SHARED_REAL_TOKENS)
      ? undefined
      : `the real-token tests: ${SHARED_REAL_TOKENS} is not beside this clone (it holds Microsoft-signed tokens; CI has it)`,
    existsSync(REDIS_SERVER) ? undefined : `the Redis tests: ${REDIS_SERVER} is missing (apt-get install redis-server)`,
    existsSync(CHROMIUM) ? undefined : `the browser tests: ${CHROMIUM} is missing (apt-get install chromium)`,
    CONTAINER_TOOLS.every((tool) => existsSync(tool))
      ? undefined
      : 'the container image test: it needs mmdebstrap, podman and buildah (apt-get install mmdebstrap podman buildah)',
  ].filter((line) => line !== undefined);
  for (const line of skipped) process.stderr.write(`\nSkipping ${line}\n`);
}
