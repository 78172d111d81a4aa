/** The outcome of checking the discovery token a node presents (discovery-token.ts). */
export type AuthResult = 'ok' | 'missing' | 'wrong';
