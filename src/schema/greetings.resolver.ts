import { GraphQLError } from 'graphql';
import { Arg, Int, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import { RequiresAppPermissions, RequiresScopes } from '../authorization/directives';
import { ErrorCode, unauthenticated } from '../graphql/errors';
import type { Context } from './context';
import { Greeting } from './greeting.type';
import { HELLO_APP_PERMISSION, HELLO_SCOPE } from './hello.resolver';

export const MIN_EVERY_SECONDS = 1;
export const MAX_EVERY_SECONDS = 300;

@Resolver((_of) => Greeting)
export class GreetingsResolver {
  @Subscription((_returns) => Greeting, {
    description: `A greeting at once, then every everySeconds (${MIN_EVERY_SECONDS}–${MAX_EVERY_SECONDS}), until the socket closes`,
    subscribe: ({ args, context }: SubscribeResolverData<unknown, { everySeconds: number }, Context>) =>
      greetings(context, args.everySeconds),
  })
  @RequiresScopes(HELLO_SCOPE)
  @RequiresAppPermissions(HELLO_APP_PERMISSION)
  greetings(
    @Root() greeting: Greeting,
    @Arg('everySeconds', (_type) => Int, { defaultValue: 10 }) _everySeconds: number,
  ): Greeting {
    return greeting;
  }
}

/**
 * The greetings of one subscription: one at once, then one every `everySeconds`. A hand-made iterator rather than
 * an async generator or node:timers/promises' setInterval: with either, a subscription waiting for its next tick
 * cannot be stopped before the tick comes (up to 300 s, holding the operation open); here `return()` clears the
 * timer and ends the pending wait at once.
 */
function greetings({ principal }: Context, everySeconds: number): AsyncIterableIterator<Greeting> {
  // The directives have already demanded a caller; this guards a schema used without them.
  if (!principal) throw unauthenticated();
  if (!Number.isInteger(everySeconds) || everySeconds < MIN_EVERY_SECONDS || everySeconds > MAX_EVERY_SECONDS) {
    throw new GraphQLError(`everySeconds must be from ${MIN_EVERY_SECONDS} to ${MAX_EVERY_SECONDS}`, {
      extensions: { code: ErrorCode.BAD_REQUEST, reason: 'invalid_argument', argument: 'everySeconds' },
    });
  }
  const end: IteratorReturnResult<undefined> = { done: true, value: undefined };
  const greeting = (): IteratorYieldResult<Greeting> => ({ done: false, value: Greeting.of(principal, new Date()) });
  let first = true;
  let finished = false;
  let timer: NodeJS.Timeout | undefined;
  let waiting: ((result: IteratorResult<Greeting>) => void) | undefined;
  const iterator: AsyncIterableIterator<Greeting> = {
    async next() {
      if (finished) return end;
      if (first) {
        first = false;
        return greeting();
      }
      return new Promise((resolve) => {
        waiting = resolve;
        timer = setTimeout(() => {
          waiting = undefined;
          resolve(greeting());
        }, everySeconds * 1000);
      });
    },
    async return() {
      finished = true;
      clearTimeout(timer);
      waiting?.(end);
      waiting = undefined;
      return end;
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
