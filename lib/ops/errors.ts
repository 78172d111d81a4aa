/** Bad command line: exit code 2. `flag` names the flag or argument at fault. */
export class UsageError extends Error {
  readonly code = 'usage';
  constructor(
    message: string,
    readonly flag?: string,
  ) {
    super(message);
  }
}

/** The command could not do what it was asked (not found, refused, AWS error): exit code 1. */
export class OpsError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
