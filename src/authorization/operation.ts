import {
  getArgumentValues,
  getDirectiveValues,
  getNamedType,
  getVariableValues,
  GraphQLError,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  isAbstractType,
  isObjectType,
  Kind,
  typeFromAST,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { noRule } from '../graphql/errors';
import type { Context } from '../schema/context';
import type { Authorization } from './permissions';
import { decide, decideFromClaims, type Verdict } from './requirements';

type Fragments = Readonly<Record<string, FragmentDefinitionNode>>;
type Variables = Readonly<Record<string, unknown>>;

/**
 * `AUTHZ_MODE=reject`: the refusals of every field an operation selects, decided from the caller before anything
 * runs, so that an operation (a mutation above all) runs whole or not at all. Every selected field of every type
 * the selection can reach is decided from the token's claims; the named policies of root fields too (their parent
 * is the root, known before execution). A policy of a nested field reads its parent object, which exists only once
 * the field's parent has resolved: it is decided at the field, as in filter mode. Below a refused field nothing is
 * decided (nothing there would run). Each refusal carries the field's
 * locations and path (response keys; list items are not known yet). Empty: the operation may run, or its variables
 * are wrong, which execution reports.
 */
export async function refusalsOf(
  schema: GraphQLSchema,
  authorization: Authorization,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  rawVariables: Variables,
  context: Context,
): Promise<GraphQLError[]> {
  const root = schema.getRootType(operation.operation);
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables);
  if (!root || coerced.errors) return [];
  const variables = coerced.coerced;
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
  }
  const refusals: GraphQLError[] = [];
  // One decision per field coordinate: the claims decide it the same way wherever it appears.
  const decided = new Map<string, Verdict>();
  const pending: Promise<void>[] = [];
  const visit = (type: GraphQLObjectType, selections: readonly SelectionSetNode[], path: readonly string[]) => {
    for (const [key, nodes] of collect(schema, fragments, variables, type, selections)) {
      const name = (nodes[0] as FieldNode).name.value;
      const field = type.getFields()[name];
      // __typename and the introspection fields: graphql-js answers them, and they reveal no caller's data.
      if (!field) continue;
      const fieldPath = [...path, key];
      const requirement = authorization.requirements.get(type.name)?.get(name);
      const refuse = (error: GraphQLError) =>
        refusals.push(
          new GraphQLError(error.message, {
            nodes,
            path: fieldPath,
            extensions: error.extensions,
            originalError: error,
          }),
        );
      if (!requirement) {
        refuse(noRule());
        continue;
      }
      if (type === root && requirement.policies.length > 0) {
        const args = getArgumentValues(field, nodes[0] as FieldNode, variables);
        pending.push(
          Promise.resolve(decide(requirement, authorization.policies, context, args, undefined)).then((verdict) => {
            if (verdict !== true) refuse(verdict);
          }),
        );
      } else {
        const coordinate = requirement.coordinate;
        let verdict = decided.get(coordinate);
        if (verdict === undefined) {
          verdict = decideFromClaims(requirement, context.principal);
          decided.set(coordinate, verdict);
        }
        // Below a refused field nothing would run: one refusal says it.
        if (verdict !== true) {
          refuse(verdict);
          continue;
        }
      }
      const named = getNamedType(field.type);
      const below = nodes.flatMap((node) => (node.selectionSet ? [node.selectionSet] : []));
      if (below.length === 0) continue;
      const possible = isAbstractType(named) ? schema.getPossibleTypes(named) : isObjectType(named) ? [named] : [];
      for (const next of possible) visit(next, below, fieldPath);
    }
  };
  visit(root, [operation.selectionSet], []);
  await Promise.all(pending);
  return refusals;
}

/** The fields a selection selects on `type`, by response key, as graphql-js collects them for execution. */
function collect(
  schema: GraphQLSchema,
  fragments: Fragments,
  variables: Variables,
  type: GraphQLObjectType,
  selections: readonly SelectionSetNode[],
): Map<string, FieldNode[]> {
  const fields = new Map<string, FieldNode[]>();
  const visited = new Set<string>();
  const included = (node: FieldNode | { directives?: FieldNode['directives'] }) =>
    getDirectiveValues(GraphQLSkipDirective, node, variables)?.['if'] !== true &&
    getDirectiveValues(GraphQLIncludeDirective, node, variables)?.['if'] !== false;
  const applies = (condition: FragmentDefinitionNode['typeCondition'] | undefined) => {
    if (!condition) return true;
    const conditional = typeFromAST(schema, condition);
    if (conditional === type) return true;
    return conditional !== undefined && isAbstractType(conditional) && schema.isSubType(conditional, type);
  };
  const walk = (set: SelectionSetNode) => {
    for (const selection of set.selections) {
      if (!included(selection)) continue;
      if (selection.kind === Kind.FIELD) {
        const key = selection.alias?.value ?? selection.name.value;
        fields.set(key, [...(fields.get(key) ?? []), selection]);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        if (applies(selection.typeCondition)) walk(selection.selectionSet);
      } else {
        const name = selection.name.value;
        const fragment = fragments[name];
        if (visited.has(name) || !fragment || !applies(fragment.typeCondition)) continue;
        visited.add(name);
        walk(fragment.selectionSet);
      }
    }
  };
  for (const set of selections) walk(set);
  return fields;
}
