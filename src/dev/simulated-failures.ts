import type { GraphFailure } from './graph-stand-in';
import type { OboFailure } from './token-endpoint';

/**
 * Dev mode: a claim of the local provider's tokens that makes its token endpoint, or the Graph stand-in, answer one
 * of the failures `User.profile` documents, so a developer sees each in the IDE (`npm run -s token -- --simulate
 * consent_required`). Only the local stand-ins read it; Entra ID never issues it.
 */
export const SIMULATE_CLAIM = 'dev_simulate';

const CLAIMS_CHALLENGE = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}';

/** Each failure, by the name `--simulate` takes, with what the stand-in that answers it does. */
export const SIMULATED_FAILURES = {
  consent_required: { oboFailure: { kind: 'consent_required' } },
  interaction_required: { oboFailure: { kind: 'interaction_required' } },
  claims_challenge: { oboFailure: { kind: 'claims_challenge', claims: CLAIMS_CHALLENGE } },
  token_endpoint_throttled: { oboFailure: { kind: 'throttled', retryAfterSeconds: 30 } },
  // Beyond GRAPH_RETRY_BUDGET_SECONDS's default, so that the answer comes at once.
  graph_throttled: { graphFailure: { status: 429, retryAfterSeconds: 60 } },
  graph_unavailable: { graphFailure: { status: 500 } },
} as const satisfies Record<string, { oboFailure: OboFailure } | { graphFailure: GraphFailure }>;

export type SimulatedFailure = keyof typeof SIMULATED_FAILURES;

function simulated(claims: Readonly<Record<string, unknown>>) {
  const name = claims[SIMULATE_CLAIM];
  return typeof name === 'string' && Object.hasOwn(SIMULATED_FAILURES, name)
    ? SIMULATED_FAILURES[name as SimulatedFailure]
    : undefined;
}

/** The token endpoint's failure that a user token asks for, if any. */
export function oboFailureOf(claims: Readonly<Record<string, unknown>>): OboFailure | undefined {
  const failure = simulated(claims);
  return failure && 'oboFailure' in failure ? failure.oboFailure : undefined;
}

/** Graph's failure that a Graph token asks for (the token endpoint copies the claim), if any. */
export function graphFailureOf(claims: Readonly<Record<string, unknown>>): GraphFailure | undefined {
  const failure = simulated(claims);
  return failure && 'graphFailure' in failure ? failure.graphFailure : undefined;
}
