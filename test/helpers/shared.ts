import { resolve } from 'node:path';

/**
 * Real tokens issued and signed by Microsoft, with the keys that verify them, in the shared folder beside the
 * checkout. They carry personal data: read at test time, never copied into the project.
 */
export const SHARED_REAL_TOKENS = resolve(__dirname, '../../../shared/real-tokens');
