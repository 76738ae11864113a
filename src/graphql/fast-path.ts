import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import type { FastifyRequest } from 'fastify';
import {
  execute,
  getOperationAST,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLError,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { LRUCache } from 'lru-cache';
import { refusalsOf } from '../authorization/operation';
import type { Authorization } from '../authorization/permissions';
import type { Context } from '../schema/context';
import { ErrorCode, formatError, settleAnswer } from './errors';

/**
 * The usual request, answered without Apollo Server's request pipeline: a JSON POST of a query or mutation whose
 * document Apollo Server has already parsed and validated. Apollo's pipeline cost more than the rest of such a request
 * (a SHA-256 of the query text, content negotiation, header maps, a round of plugin hooks at each of ten stages,
 * bench/PROFILE.md, ninth pass); this path does what those stages amount to for this API and gives the same answer,
 * byte for byte (test/fast-path.test.ts compares the two). Anything else, and anything that turns out not to execute,
 * is Apollo Server's to answer.
 *
 * Apollo plugins' per-request hooks do not run for what this path answers. It does what this API's plugins do (the
 * errors plugin's audit and settling, reject mode's refusals) itself; a plugin added to apollo.ts with such hooks needs
 * its counterpart here.
 */
export interface FastPath {
  /** Teaches the path the documents Apollo Server validated: the path never parses or validates anything itself. */
  readonly plugin: ApolloServerPlugin<Context>;
  /** The operation this path can answer for `request`, or undefined for Apollo Server. Reads nothing but the request. */
  operationOf(request: FastifyRequest): Operation | undefined;
  /** Runs it for a verified context; undefined when nothing ran and Apollo Server is to answer. */
  run(operation: Operation, contextValue: Context): Promise<Answer | undefined>;
  /** HTTP requests to /graphql answered here, and those handed to Apollo Server (metrics). */
  readonly counts: { answered: number; handedOver: number };
}

export interface Operation {
  /** The answer's content type, as negotiated. */
  readonly head: ReadonlyMap<string, string>;
  readonly document: DocumentNode;
  readonly definition: OperationDefinitionNode;
  readonly operationName: string | undefined;
  readonly variables: Record<string, unknown> | undefined;
}

/** An HTTP answer, as Apollo Server's Fastify integration would send it. */
export interface Answer {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
}

const JSON_UTF8 = 'application/json; charset=utf-8';
/**
 * The Accept values clients send most, with the media type Apollo Server's negotiation picks for each (the test
 * checks every one against it); any other value goes to Apollo Server.
 */
const ACCEPTED: readonly (readonly [string | undefined, string])[] = [
  [undefined, JSON_UTF8],
  ['*/*', JSON_UTF8],
  ['application/json', JSON_UTF8],
  // graphql-request's default (urql sends queries as GET, which is Apollo Server's).
  ['application/graphql-response+json, application/json', 'application/graphql-response+json; charset=utf-8'],
  // Apollo Client 4's default, and the same with a space.
  ['application/graphql-response+json,application/json;q=0.9', 'application/graphql-response+json; charset=utf-8'],
  ['application/graphql-response+json, application/json;q=0.9', 'application/graphql-response+json; charset=utf-8'],
];
const MEDIA_TYPES = new Map(ACCEPTED.map(([accept, type]) => [accept, new Map([['content-type', type]])]));
/**
 * Documents remembered, the text they may hold in all, and the largest one taken. The parsed documents are Apollo
 * Server's own (its document cache holds the same objects), so what this costs is the text.
 */
const MAX_DOCUMENTS = 1000;
const MAX_DOCUMENT_TEXT = 2 * 1024 * 1024;
const MAX_ONE_DOCUMENT_TEXT = 64 * 1024;

export function createFastPath({
  schema,
  authorization,
  rejectUnauthorized,
  onErrors,
}: {
  schema: GraphQLSchema;
  authorization: Authorization;
  /** AUTHZ_MODE=reject: an operation with any refused field goes to Apollo Server, which refuses it whole. */
  rejectUnauthorized: boolean;
  /** The unformatted errors of an operation that had any, as Apollo's errors plugin passes them on (the audit). */
  onErrors: (errors: readonly GraphQLError[], context: Context) => void;
}): FastPath {
  const documents = new LRUCache<string, DocumentNode>({
    max: MAX_DOCUMENTS,
    maxSize: MAX_DOCUMENT_TEXT,
    maxEntrySize: MAX_ONE_DOCUMENT_TEXT,
    sizeCalculation: (_document, query) => query.length || 1,
  });

  // One listener for every request, as it keeps no per-request state.
  const listener: GraphQLRequestListener<Context> = {
    async didResolveOperation({ request, document }) {
      if (typeof request.query === 'string' && !documents.has(request.query)) documents.set(request.query, document);
    },
  };
  const plugin: ApolloServerPlugin<Context> = { requestDidStart: async () => listener };

  function operationOf(request: FastifyRequest): Operation | undefined {
    if (request.method !== 'POST') return undefined;
    const head = MEDIA_TYPES.get(request.headers.accept);
    if (head === undefined) return undefined;
    // Apollo's CSRF check lets JSON through, since a browser preflights it; other types are Apollo's to judge.
    const type = request.headers['content-type'];
    if (type !== 'application/json' && type !== 'application/json; charset=utf-8') return undefined;
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
    let query: unknown;
    let operationName: unknown;
    let variables: unknown;
    // Only the three fields; `extensions` (persisted queries) and anything unknown are Apollo's.
    for (const key in body) {
      const value = (body as Record<string, unknown>)[key];
      if (key === 'query') query = value;
      else if (key === 'operationName') operationName = value;
      else if (key === 'variables') variables = value;
      else return undefined;
    }
    if (typeof query !== 'string') return undefined;
    if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return undefined;
    if (variables !== undefined && variables !== null && (typeof variables !== 'object' || Array.isArray(variables))) {
      return undefined;
    }
    const document = documents.get(query);
    if (document === undefined) return undefined;
    const definition = getOperationAST(document, operationName as string | null | undefined);
    // A subscription, or an operation type the schema has no root for, is refused by Apollo Server's plugins.
    if (!definition || definition.operation === 'subscription' || !schema.getRootType(definition.operation)) {
      return undefined;
    }
    return {
      head,
      document,
      definition,
      operationName: (operationName as string | null | undefined) ?? undefined,
      variables: (variables as Record<string, unknown> | null | undefined) ?? undefined,
    };
  }

  async function run(operation: Operation, contextValue: Context): Promise<Answer | undefined> {
    const { head, document, definition, operationName, variables } = operation;
    if (rejectUnauthorized) {
      const refusals = await refusalsOf(schema, authorization, document, definition, variables ?? {}, contextValue);
      if (refusals.length > 0) return undefined;
    }
    const result = await execute({ schema, document, contextValue, variableValues: variables, operationName });
    // No data: the variables did not coerce and nothing ran; Apollo Server gives that its 400.
    if (!('data' in result)) return undefined;
    if (!result.errors) return { status: 200, headers: head, body: `{"data":${JSON.stringify(result.data)}}\n` };
    return answerWithErrors(result.errors, result, head, contextValue);
  }

  /** As Apollo Server answers an execution with errors: reported, formatted, then settled by the errors plugin. */
  function answerWithErrors(
    errors: readonly GraphQLError[],
    result: ExecutionResult,
    head: ReadonlyMap<string, string>,
    contextValue: Context,
  ): Answer {
    onErrors(errors, contextValue);
    let status: number | undefined;
    const headers = new Map<string, string>();
    const formatted = errors.map((error): GraphQLFormattedError => {
      // Apollo Server's normalisation, to the key order: a well-formed `http` extension becomes the answer's head.
      const extensions: Record<string, unknown> = {
        ...error.extensions,
        code: error.extensions['code'] ?? ErrorCode.INTERNAL_SERVER_ERROR,
      };
      const http = extensions['http'];
      if (isHead(http)) {
        if (http.status) status = http.status;
        for (const [name, value] of http.headers ?? []) headers.set(name.toLowerCase(), value);
        delete extensions['http'];
      }
      return formatError({ ...error.toJSON(), extensions });
    });
    const settled = settleAnswer(result.data, formatted, contextValue.requestId);
    if (settled.head) {
      status = settled.head.status;
      headers.set('www-authenticate', settled.head.wwwAuthenticate);
    }
    // As Apollo Server, which keeps a content type an error set.
    for (const [name, value] of head) if (!headers.has(name)) headers.set(name, value);
    return {
      status: status ?? 200,
      headers,
      body: `${JSON.stringify({ errors: settled.errors, data: result.data, extensions: result.extensions })}\n`,
    };
  }

  return { plugin, operationOf, run, counts: { answered: 0, handedOver: 0 } };
}

function isHead(value: unknown): value is { status?: number; headers?: Map<string, string> } {
  if (!value || typeof value !== 'object') return false;
  const head = value as Record<string, unknown>;
  return (
    (!('status' in head) || typeof head['status'] === 'number') &&
    (!('headers' in head) || head['headers'] instanceof Map)
  );
}
