import type { DestinationStream } from 'pino';
import pretty from 'pino-pretty';

// Fields every line has, or that say nothing on a developer's own machine.
const UNSAID = new Set(['level', 'time', 'pid', 'service', 'hostname', 'msg', 'clientAddress']);

/**
 * Dev mode's log: one readable line per event on stdout, written at once (so a warning printed before the banner
 * appears before it). A request is `POST /graphql 200 3.2 ms`; any other line is its message and its fields.
 */
export function devLogDestination(): DestinationStream {
  return pretty({
    sync: true,
    colorize: process.stdout.isTTY === true,
    translateTime: 'HH:MM:ss',
    hideObject: true,
    messageFormat: (log) => {
      if (log['msg'] === 'request completed') {
        return `${String(log['method'])} ${String(log['path'])} ${String(log['status'])} ${String(log['durationMs'])} ms`;
      }
      const fields = Object.entries(log)
        .filter(([name]) => !UNSAID.has(name))
        .map(([name, value]) => `${name}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
      return [String(log['msg']), ...fields].join(' ');
    },
  });
}
