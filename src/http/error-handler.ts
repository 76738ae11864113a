import type { FastifyError } from 'fastify';
import fp from 'fastify-plugin';
import { errorBody, ErrorCode } from '../graphql/errors';
import type { Logger } from '../observability/logger';

/** Answers outside GraphQL: unknown routes, and the body and media-type errors Fastify raises before a handler. */
export const errorHandler = fp<{ logger: Logger }>(
  async (app, { logger }) => {
    app.setNotFoundHandler(async (_request, reply) =>
      reply.code(404).send(errorBody(ErrorCode.NOT_FOUND, 'Not found: GraphQL is served at /graphql')),
    );
    app.setErrorHandler(async (error: FastifyError, request, reply) => {
      if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        return reply.code(413).send(errorBody(ErrorCode.PAYLOAD_TOO_LARGE, 'Request body is larger than 1 MB'));
      }
      if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
        return reply.code(415).send(errorBody(ErrorCode.BAD_REQUEST, 'Send GraphQL requests as application/json'));
      }
      if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
        return reply.code(400).send(errorBody(ErrorCode.BAD_REQUEST, 'Request body is not valid JSON'));
      }
      logger.error({ event: 'unhandled_error', requestId: request.id, err: error }, 'Unhandled error');
      return reply.code(500).send(errorBody(ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error'));
    });
  },
  { name: 'error-handler' },
);
