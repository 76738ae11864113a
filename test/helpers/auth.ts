import { createTokenVerifier, type VerifierOptions } from '../../src/auth';
import { startIdentityProvider, type IdentityProvider } from '../../src/dev/identity-provider';
import { TestClock } from './clock';

export interface LogLine {
  level: 'info' | 'warn';
  details: Record<string, unknown>;
  message: string;
}

/** Collects log lines the way pino would receive them. */
export function captureLogger(): {
  lines: LogLine[];
  info: (d: object, m: string) => void;
  warn: (d: object, m: string) => void;
} {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (details, message) => lines.push({ level: 'info', details: details as Record<string, unknown>, message }),
    warn: (details, message) => lines.push({ level: 'warn', details: details as Record<string, unknown>, message }),
  };
}

export interface AuthFixture {
  idp: IdentityProvider;
  clock: TestClock;
  logger: ReturnType<typeof captureLogger>;
  verifier: ReturnType<typeof createTokenVerifier>;
  /** Mints a token issued at the test clock's time. */
  mint: IdentityProvider['mint'];
}

/** A real identity provider on loopback and a verifier pointed at it, sharing one test clock. */
export async function authFixture(
  overrides: Partial<VerifierOptions> = {},
  idp?: IdentityProvider,
): Promise<AuthFixture> {
  const provider = idp ?? (await startIdentityProvider());
  const clock = new TestClock();
  const logger = captureLogger();
  const verifier = createTokenVerifier({
    tenantId: provider.tenantId,
    clientId: provider.clientId,
    authorityHost: provider.url,
    now: clock.now,
    logger,
    ...overrides,
  });
  return {
    idp: provider,
    clock,
    logger,
    verifier,
    mint: (options = {}) => provider.mint({ issuedAt: clock.seconds, ...options }),
  };
}
