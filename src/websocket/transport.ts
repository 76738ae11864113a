import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  execute,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  parse,
  subscribe,
  validate,
  type ExecutionArgs,
  type GraphQLSchema,
} from 'graphql';
import {
  CloseCode as Protocol,
  handleProtocols,
  makeServer,
  type ServerOptions,
  type SubscribePayload,
} from 'graphql-ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { pathOf, requestIdOf } from '../observability/access-log';
import type { Audit } from '../observability/audit';
import type { Principal } from '../auth';
import { callerKey, type Authenticator } from '../graphql/authenticate';
import type { Config } from '../config';
import {
  CloseCode,
  ErrorCode,
  errorBody,
  formatSocketErrors,
  requestError,
  rateLimited,
  socketClose,
  socketClosing,
  unresolvedOperation,
  unsupportedOperation,
} from '../graphql/errors';
import { authorizationHeaders } from '../http/authorization';
import { budgetKeyOf, clientAddress } from '../http/client-address';
import type { Logger } from '../observability/logger';
import { inSocketOperationSpan, tracingEnabled } from '../observability/tracing';
import type { Metrics } from '../observability/metrics';
import type { OperationLimits } from '../limits/operation-limits';
import { RateLimitedError } from '../limits/rate-limits';
import type { Context } from '../schema/context';
import { refusalsOf } from '../authorization/operation';
import type { Authorization } from '../authorization/permissions';
import type { DownstreamClients } from '../downstream';

export interface WebSocketTransportOptions {
  readonly server: Server;
  readonly schema: GraphQLSchema;
  /** The rules compiled from the schema's directives: AUTHZ_MODE=reject decides them at subscribe. */
  readonly authorization: Authorization;
  readonly config: Config;
  readonly authenticator: Authenticator;
  /** Calls on the socket's caller's behalf (User.profile), with the token of its connection_init. */
  readonly downstream: DownstreamClients;
  readonly audit: Audit;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly operations: OperationLimits;
  /**
   * The CORS allow-list: a browser page from another origin may not open a socket (Cross-Site WebSocket Hijacking);
   * pages of the API's own host may.
   */
  isAllowedOrigin(origin: string): boolean;
  /** True once shutdown began: new sockets are refused with 503. */
  draining(): boolean;
}

export interface WebSocketTransport {
  /**
   * Closes every socket with 1001 (going away) and resolves once none is open; those whose client has not answered
   * the close within `graceMs` are cut.
   */
  closeAll(graceMs: number): Promise<void>;
}

interface SocketState {
  readonly requestId: string;
  readonly clientAddress: string;
  readonly budgetKey: string;
  readonly openedAt: number;
  principal: Principal | null;
  /** The Authorization value the socket authenticated with: each operation's downstream calls act on it. */
  authorization: string | string[] | undefined;
  /** Operations running, by id; true for subscriptions. */
  readonly operations: Map<string, boolean>;
  expiry: NodeJS.Timeout | undefined;
  /** The reason code of a close the server decided, for the log and metrics. */
  closeReason: string | undefined;
  /** The code the server closed with (a socket cut after an error sees 1006 itself, whatever it sent). */
  closeCode: number | undefined;
  /** Messages received: in all before connection_init is acknowledged, and in the current one-second window. */
  messagesBeforeInit: number;
  messagesInWindow: number;
  windowStartedAt: number;
  /** Operations refused for a limit (too many at once, caller budget spent) on this socket. */
  refusals: number;
}

type ConnectionParams = Record<string, unknown> | undefined;
interface Extra {
  readonly socket: WebSocket;
  readonly request: IncomingMessage;
}

const PATH = '/graphql';
/**
 * Messages a socket may send before its connection_init is acknowledged: graphql-ws's client sends one (the init)
 * and waits; a few pings are tolerated. Each would otherwise be answered while the token is not even checked.
 */
export const MAX_MESSAGES_BEFORE_INIT = 10;
/**
 * Operations refused for a limit (`too_many_operations`, `caller_requests`) after which the socket is closed: each
 * refusal is an answer the server writes for free, and a client that keeps asking is not reading them.
 */
export const MAX_REFUSALS_PER_SOCKET = 10;
// setTimeout fires at once beyond this (about 24.8 days): a longer wait is taken in steps.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Reason labels of closes the server did not decide (the client's own reason is never a label: it is free text). */
const CLOSE_NAMES: Readonly<Record<number, string>> = {
  1000: 'normal',
  [CloseCode.GOING_AWAY]: 'going_away',
  1005: 'no_status',
  1006: 'abnormal',
  [CloseCode.MESSAGE_TOO_BIG]: 'message_too_big',
  [CloseCode.POLICY_VIOLATION]: 'policy_violation',
  [Protocol.BadRequest]: 'bad_message',
  [Protocol.Unauthorized]: 'unauthorized',
  [Protocol.SubprotocolNotAcceptable]: 'subprotocol_not_acceptable',
  [Protocol.ConnectionInitialisationTimeout]: 'init_timeout',
  [Protocol.SubscriberAlreadyExists]: 'subscriber_exists',
  [Protocol.TooManyInitialisationRequests]: 'too_many_init_requests',
};

/**
 * GraphQL over WebSocket (graphql-ws's `graphql-transport-ws` protocol) on the HTTP server's port and path. The
 * upgrade is checked first (path, shutdown, Origin, sockets per address), then the connection_init's token is
 * verified by the same authenticator as HTTP requests, with the same budgets; each operation is parsed and
 * validated with the same limits and runs with the same context, so the same authorization rules apply. A socket
 * is closed when its token expires (after the clock skew, as HTTP would refuse it from then on).
 */
export function attachWebSockets(options: WebSocketTransportOptions): WebSocketTransport {
  const { config, authenticator, downstream, audit, metrics, logger, operations, schema, authorization } = options;
  const settings = config.websocket;
  const production = config.env === 'production';
  const skewMs = config.auth.clockSkewSeconds * 1000;
  const states = new Map<WebSocket, SocketState>();
  const socketsPerAddress = new Map<string, number>();
  const socketsPerCaller = new Map<string, number>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: settings.maxMessageBytes, handleProtocols });

  options.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Errors of a socket being refused (a reset by the client) must not reach the process.
    socket.on('error', () => socket.destroy());
    const refuse = (status: number, code: ErrorCode, message: string) => {
      const body = JSON.stringify(errorBody(code, message));
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nCache-Control: no-store\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    };
    if (pathOf(request.url ?? '') !== PATH) {
      return refuse(404, ErrorCode.NOT_FOUND, 'Not found: GraphQL over WebSocket is served at /graphql');
    }
    if (options.draining()) return refuse(503, ErrorCode.SERVICE_UNAVAILABLE, 'The server is shutting down');
    const origin = request.headers.origin;
    if (origin !== undefined && !options.isAllowedOrigin(origin) && !sameHost(origin, request.headers.host)) {
      logger.warn({ event: 'socket_refused', reason: 'origin_not_allowed' }, 'WebSocket from a foreign origin refused');
      return refuse(403, ErrorCode.FORBIDDEN, 'This origin may not open a WebSocket to this API');
    }
    const address = clientAddress(request.socket.remoteAddress, request.headers['x-forwarded-for'], config.trustProxy);
    const budgetKey = budgetKeyOf(address);
    if ((socketsPerAddress.get(budgetKey) ?? 0) >= settings.maxSocketsPerAddress) {
      logger.warn({ event: 'socket_refused', reason: 'too_many_sockets', clientAddress: address }, 'Socket refused');
      return refuse(429, ErrorCode.RATE_LIMITED, 'Too many WebSockets from this address');
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const state: SocketState = {
        requestId: requestIdOf(request.headers['x-request-id']),
        clientAddress: address,
        budgetKey,
        openedAt: Date.now(),
        principal: null,
        authorization: undefined,
        operations: new Map(),
        expiry: undefined,
        closeReason: undefined,
        closeCode: undefined,
        messagesBeforeInit: 0,
        messagesInWindow: 0,
        windowStartedAt: Date.now(),
        refusals: 0,
      };
      states.set(ws, state);
      adjust(socketsPerAddress, budgetKey, 1);
      metrics.socketsOpen.inc();
      logger.info({ event: 'socket_opened', requestId: state.requestId, clientAddress: address }, 'Socket opened');
      serve(ws, request, state);
    });
  });

  /**
   * graphql-ws's protocol server on one socket. Its `use/ws` adapter is not used: it writes socket errors with
   * console.error and closes with its own reasons; this one logs through pino, names the close reason, and pings.
   */
  function serve(ws: WebSocket, request: IncomingMessage, state: SocketState): void {
    ws.on('error', (error: Error & { code?: string }) => {
      // ws closes the socket itself after an error (1009 for a message over the limit).
      const tooBig = error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';
      state.closeReason ??= tooBig ? 'message_too_big' : 'socket_error';
      if (tooBig) state.closeCode ??= CloseCode.MESSAGE_TOO_BIG;
      logger.warn({ event: 'socket_error', code: error.code, ...facts(state) }, 'WebSocket error');
    });
    // A ping every interval; a socket that has not answered the previous one by then is cut (a dead peer, or a
    // load balancer that dropped it), and live ones never look idle to the balancers on the way.
    let awaitingPong = false;
    const pings = setInterval(() => {
      if (awaitingPong) {
        state.closeReason = 'no_pong';
        ws.terminate();
        return;
      }
      awaitingPong = true;
      ws.ping();
    }, settings.pingIntervalSeconds * 1000);
    ws.on('pong', () => {
      awaitingPong = false;
    });
    const ended = protocol.opened(
      {
        protocol: ws.protocol,
        send: (data) =>
          new Promise<void>((resolve, reject) => {
            if (ws.readyState !== ws.OPEN) return resolve();
            // A write that fails because the socket was cut meanwhile is no error of the operation's.
            ws.send(data, (error) => (error && ws.readyState === ws.OPEN ? reject(error) : resolve()));
            // A client that does not read its answers makes them queue here: past the bound, it is cut.
            if (ws.bufferedAmount > settings.maxBufferedBytes) cut(ws, state, 'send_buffer_full');
          }),
        // graphql-ws's own closes (4400 bad message, 4408 init timeout ...) are named in the log by CLOSE_NAMES.
        close: (code, reason) => {
          if (ws.readyState !== ws.OPEN) return;
          state.closeCode = code;
          ws.close(code, reason);
        },
        onMessage: (handle) =>
          ws.on('message', async (data) => {
            // A socket that is closing (its token expired, a limit was reached) runs nothing more.
            if (ws.readyState !== ws.OPEN || !admitMessage(ws, state)) return;
            try {
              await handle(String(data));
            } catch (error) {
              logger.error({ event: 'internal_error', ...facts(state), err: error }, 'Unexpected WebSocket error');
              close(ws, state, CloseCode.INTERNAL_ERROR, 'internal_error');
            }
          }),
      },
      { socket: ws, request },
    );
    ws.once('close', (code: number, reason: Buffer) => {
      clearInterval(pings);
      closed(ws, state, code);
      void ended(code, String(reason));
    });
  }

  /**
   * Counts a message against the socket's limits, closing it when one is passed: before its connection_init is
   * acknowledged a socket may send MAX_MESSAGES_BEFORE_INIT messages, and at any time WS_MAX_MESSAGES_PER_SECOND.
   */
  function admitMessage(ws: WebSocket, state: SocketState): boolean {
    const now = Date.now();
    if (now - state.windowStartedAt >= 1000) {
      state.windowStartedAt = now;
      state.messagesInWindow = 0;
    }
    state.messagesInWindow += 1;
    if (state.principal === null) state.messagesBeforeInit += 1;
    const overLimit =
      state.messagesBeforeInit > MAX_MESSAGES_BEFORE_INIT
        ? 'too_many_messages_before_init'
        : state.messagesInWindow > settings.maxMessagesPerSecond
          ? 'too_many_messages'
          : undefined;
    if (overLimit === undefined) return true;
    logger.warn({ event: 'socket_limit', reason: overLimit, ...facts(state) }, 'Socket closed: message limit');
    close(ws, state, CloseCode.POLICY_VIOLATION, overLimit);
    return false;
  }

  /**
   * Ends a socket at once, without a close handshake: its client is not reading, so a close frame would wait behind
   * what is queued. Everything queued for it is dropped with it.
   */
  function cut(ws: WebSocket, state: SocketState, reason: string): void {
    if (ws.readyState === ws.CLOSED) return;
    state.closeReason ??= reason;
    logger.warn(
      { event: 'socket_limit', reason, bufferedBytes: ws.bufferedAmount, ...facts(state) },
      'Socket cut: its client does not read',
    );
    ws.terminate();
  }

  function close(ws: WebSocket, state: SocketState, code: number, reason: string): void {
    if (ws.readyState !== ws.OPEN) return;
    state.closeReason = reason;
    state.closeCode = code;
    ws.close(code, reason);
  }

  function closed(ws: WebSocket, state: SocketState, received: number): void {
    const code = state.closeCode ?? received;
    states.delete(ws);
    clearTimeout(state.expiry);
    adjust(socketsPerAddress, state.budgetKey, -1);
    if (state.principal) adjust(socketsPerCaller, callerKey(state.principal), -1);
    const subscriptions = [...state.operations.values()].filter(Boolean).length;
    metrics.subscriptionsActive.dec(subscriptions);
    metrics.socketsOpen.dec();
    const reason = state.closeReason ?? CLOSE_NAMES[code] ?? 'client_closed';
    metrics.socketCloses.inc({ code: String(code), reason });
    logger.info(
      {
        event: 'socket_closed',
        requestId: state.requestId,
        clientAddress: state.clientAddress,
        code,
        reason,
        durationMs: Date.now() - state.openedAt,
      },
      'Socket closed',
    );
  }

  /** Closes the socket when its token expires, HTTP's last moment of acceptance: `exp` plus the clock skew. */
  function closeAtExpiry(ws: WebSocket, state: SocketState, principal: Principal): void {
    const wait = principal.expiresAt * 1000 + skewMs - Date.now();
    if (wait <= 0) return close(ws, state, CloseCode.TOKEN_EXPIRED, 'expired');
    state.expiry = setTimeout(() => closeAtExpiry(ws, state, principal), Math.min(wait, MAX_TIMER_MS));
  }

  /** Refuses an operation for a limit; a socket that collects MAX_REFUSALS_PER_SOCKET of them is closed. */
  function refuse(ws: WebSocket, state: SocketState, errors: readonly GraphQLError[]): readonly GraphQLError[] {
    state.refusals += 1;
    if (state.refusals >= MAX_REFUSALS_PER_SOCKET) {
      logger.warn({ event: 'socket_limit', reason: 'too_many_refusals', ...facts(state) }, 'Socket closed');
      close(ws, state, CloseCode.POLICY_VIOLATION, 'too_many_refusals');
    }
    return errors;
  }

  /**
   * An operation's way to execution: the caller's budget, then parsing, validation, the operation and its variables,
   * as Apollo Server takes them over HTTP; the arguments to execute it with, or the errors that refuse it.
   */
  async function admit(
    ws: WebSocket,
    state: SocketState,
    principal: Principal,
    id: string,
    payload: SubscribePayload,
  ): Promise<ExecutionArgs | readonly GraphQLError[]> {
    try {
      await authenticator.consumeCaller(principal, facts(state));
    } catch (error) {
      if (error instanceof RateLimitedError) return refuse(ws, state, [rateLimited(error)]);
      throw error;
    }
    let document;
    try {
      document = parse(payload.query, operations.parseOptions);
    } catch (error) {
      return [requestError(error as GraphQLError, 'GRAPHQL_PARSE_FAILED', production)];
    }
    const invalid = validate(schema, document, operations.allValidationRules);
    if (invalid.length > 0) {
      return invalid.map((error) => requestError(error, 'GRAPHQL_VALIDATION_FAILED', production));
    }
    // As Apollo Server does before executing: the operation named, and the variables coerced, with its codes.
    const operation = getOperationAST(document, payload.operationName);
    if (!operation) return [unresolvedOperation(payload.operationName)];
    const unsupported = unsupportedOperation(schema, operation.operation);
    if (unsupported) return [unsupported];
    const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], payload.variables ?? {});
    if (coerced.errors) return coerced.errors.map((error) => requestError(error, 'BAD_USER_INPUT', false));
    const contextValue: Context = {
      principal,
      ...facts(state),
      // One per operation, as over HTTP: a subscription fetches the profile once, not on every event.
      downstream: downstream.forCaller(principal, state.authorization, state.requestId),
    };
    if (config.authzMode === 'reject') {
      const variables = payload.variables ?? {};
      const refusals = await refusalsOf(schema, authorization, document, operation, variables, contextValue);
      if (refusals.length > 0) {
        audit.executionErrors(refusals, contextValue);
        return refusals;
      }
    }
    // The budget may have been awaited while the socket began to close: nothing starts on a closing socket.
    if (ws.readyState !== ws.OPEN) return [socketClosing()];
    const subscription = operation.operation === 'subscription';
    state.operations.set(id, subscription);
    if (subscription) metrics.subscriptionsActive.inc();
    return {
      schema,
      document,
      contextValue,
      ...(payload.operationName != null && { operationName: payload.operationName }),
      ...(payload.variables != null && { variableValues: payload.variables }),
    };
  }

  const facts = (state: SocketState) => ({ requestId: state.requestId, clientAddress: state.clientAddress });

  const protocolOptions: ServerOptions<ConnectionParams, Extra> = {
    schema,
    connectionInitWaitTimeout: settings.connectionInitTimeoutMs,
    // With telemetry on, each operation (a subscription's start) in a span of its own.
    ...(tracingEnabled() && {
      execute: (args: ExecutionArgs) => inSocketOperationSpan(args, () => execute(args)),
      subscribe: (args: ExecutionArgs) => inSocketOperationSpan(args, () => subscribe(args)),
    }),

    async onConnect({ connectionParams, extra: { socket: ws, request } }) {
      const state = states.get(ws);
      if (!state) return false;
      try {
        const authorization = authorizationOf(connectionParams) ?? authorizationHeaders(request.rawHeaders);
        const principal = await authenticator.authenticate(authorization, facts(state));
        if (principal === null) {
          audit.tokenMissing(facts(state));
          close(ws, state, CloseCode.UNAUTHORIZED, 'missing_token');
          return false;
        }
        if (ws.readyState !== ws.OPEN) return false;
        const caller = callerKey(principal);
        if ((socketsPerCaller.get(caller) ?? 0) >= settings.maxSocketsPerCaller) {
          logger.warn({ event: 'socket_refused', reason: 'too_many_sockets', ...facts(state) }, 'Socket refused');
          close(ws, state, CloseCode.TOO_MANY_SOCKETS, 'too_many_sockets');
          return false;
        }
        state.principal = principal;
        state.authorization = authorization;
        adjust(socketsPerCaller, caller, 1);
        closeAtExpiry(ws, state, principal);
        return ws.readyState === ws.OPEN;
      } catch (error) {
        const { code, reason } = socketClose(error);
        close(ws, state, code, reason);
        return false;
      }
    },

    async onSubscribe({ extra: { socket: ws } }, id, payload) {
      const state = states.get(ws);
      const principal = state?.principal;
      if (!state || !principal || ws.readyState !== ws.OPEN) return [socketClosing()];
      // A socket whose token expired is closing; a client that does not answer the close starts nothing more.
      if (principal.expiresAt * 1000 + skewMs <= Date.now()) {
        close(ws, state, CloseCode.TOKEN_EXPIRED, 'expired');
        return [socketClosing()];
      }
      if (state.operations.size >= settings.maxOperationsPerSocket) {
        return refuse(ws, state, [
          new GraphQLError(
            `At most ${settings.maxOperationsPerSocket} operations may run at once on one socket: complete one first`,
            { extensions: { code: ErrorCode.RATE_LIMITED, reason: 'too_many_operations' } },
          ),
        ]);
      }
      // Counted before anything is awaited: the operations of a burst read in one go each see those before them.
      state.operations.set(id, false);
      let admitted: ExecutionArgs | readonly GraphQLError[];
      try {
        admitted = await admit(ws, state, principal, id, payload);
      } catch (error) {
        state.operations.delete(id);
        throw error;
      }
      if (!('schema' in admitted)) state.operations.delete(id);
      return admitted;
    },
    onNext({ extra: { socket: ws } }, _id, _payload, args, result) {
      if (!result.errors) return;
      audit.executionErrors(result.errors, args.contextValue as Context);
      return { ...result, errors: formatSocketErrors(result.errors, states.get(ws)?.requestId ?? '') };
    },

    onError({ extra: { socket: ws } }, _id, _payload, errors) {
      return formatSocketErrors(errors, states.get(ws)?.requestId ?? '');
    },

    onComplete({ extra: { socket: ws } }, id) {
      const operations = states.get(ws)?.operations;
      if (operations?.get(id)) metrics.subscriptionsActive.dec();
      operations?.delete(id);
    },
  };
  const protocol = makeServer(protocolOptions);

  return {
    async closeAll(graceMs) {
      const open = [...states.keys()];
      const allClosed = Promise.all(open.map((ws) => new Promise((done) => ws.once('close', done))));
      for (const ws of open) close(ws, states.get(ws)!, CloseCode.GOING_AWAY, 'going_away');
      const cut = setTimeout(() => open.forEach((ws) => ws.terminate()), graceMs);
      await allClosed;
      clearTimeout(cut);
    },
  };
}

/**
 * The Authorization value(s) of a connection_init payload, under any spelling of the name. A value that is not a
 * string becomes '' and two spellings at once stay two values, which the bearer parser refuses as malformed.
 */
function authorizationOf(params: ConnectionParams): string | string[] | undefined {
  if (params === null || typeof params !== 'object') return undefined;
  const values = Object.entries(params)
    .filter(([name]) => name.toLowerCase() === 'authorization')
    .map(([, value]) => (typeof value === 'string' ? value : ''));
  return values.length === 0 ? undefined : values.length === 1 ? values[0] : values;
}

/**
 * A page of the API's own host (any scheme: TLS may end at a proxy) is not cross-site. A hijacking page cannot pass
 * for one: the browser sets both Origin and Host.
 */
function sameHost(origin: string, host: string | undefined): boolean {
  return host !== undefined && URL.canParse(origin) && new URL(origin).host === host.toLowerCase();
}

function adjust(counts: Map<string, number>, key: string, delta: number): void {
  const next = (counts.get(key) ?? 0) + delta;
  if (next <= 0) counts.delete(key);
  else counts.set(key, next);
}
