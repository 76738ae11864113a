import type { Principal } from '../auth';

/** Per-request context: the verified caller, or null for an anonymous request. */
export interface Context {
  readonly principal: Principal | null;
}
