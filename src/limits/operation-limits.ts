import { ApolloArmor } from '@escape.tech/graphql-armor';
import { NoSchemaIntrospectionCustomRule, specifiedRules, type ParseOptions, type ValidationRule } from 'graphql';
import type { Config } from '../config';

export interface OperationLimits {
  /** For graphql-js's parser: its token limit stops token floods before a document is built. */
  readonly parseOptions: ParseOptions;
  /** Depth, aliases, cost and directives (graphql-armor), for Apollo's validation. */
  readonly validationRules: readonly ValidationRule[];
  /** Every rule an operation must pass where no Apollo Server validates it (the WebSocket transport). */
  readonly allValidationRules: readonly ValidationRule[];
  /** Apollo plugins that go with the rules. */
  readonly plugins: ReturnType<ApolloArmor['protect']>['plugins'];
}

/** The same bounds on every operation, whichever transport brings it. */
export function operationLimits(limits: Config['limits'], production: boolean): OperationLimits {
  const armor = new ApolloArmor({
    maxDepth: { n: limits.maxDepth },
    maxAliases: { n: limits.maxAliases },
    costLimit: { maxCost: limits.maxCost },
    maxDirectives: { n: limits.maxDirectives },
    // graphql-js's own parser limit (parseOptions) stops token floods before a document is built.
    maxTokens: { enabled: false },
    // Apollo's own option removes suggestions cleanly; armor's leaves a stray '?'.
    blockFieldSuggestion: { enabled: false },
  }).protect();
  return {
    parseOptions: { maxTokens: limits.maxTokens },
    validationRules: armor.validationRules,
    allValidationRules: [
      ...specifiedRules,
      ...armor.validationRules,
      // As Apollo Server does with introspection off.
      ...(production ? [NoSchemaIntrospectionCustomRule] : []),
    ],
    plugins: armor.plugins,
  };
}
