import { AuthError, type AuthReason } from '../../src/auth';

/** Asserts a refusal by its reason code, status and the description the client will read. */
export async function expectRefusal(
  promise: Promise<unknown>,
  reason: AuthReason,
  description?: string,
): Promise<AuthError> {
  const error = await promise.then(
    () => {
      throw new Error(`expected a refusal with reason ${reason}, but the token was accepted`);
    },
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AuthError);
  const authError = error as AuthError;
  expect(authError.reason).toBe(reason);
  if (description !== undefined) expect(authError.description).toBe(description);
  return authError;
}
