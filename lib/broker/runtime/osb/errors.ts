/**
 * An OSB error answer: status plus the JSON body `{error?, description}`. `error` uses
 * the spec's codes where one exists (AsyncRequired, ConcurrencyError,
 * MaintenanceInfoConflict, ...).
 */
export class OsbError extends Error {
  constructor(
    readonly status: number,
    readonly description: string,
    readonly error?: string,
  ) {
    super(description);
  }

  body(): { error?: string; description: string } {
    return this.error ? { error: this.error, description: this.description } : { description: this.description };
  }
}

export const badRequest = (description: string) => new OsbError(400, description, 'BadRequest');
export const notFound = (description: string) => new OsbError(404, description, 'NotFound');
export const conflict = (description: string) => new OsbError(409, description, 'Conflict');
export const asyncRequired = () =>
  new OsbError(422, 'This service plan requires client support for asynchronous service operations: add accepts_incomplete=true.', 'AsyncRequired');
export const concurrencyError = (description: string) => new OsbError(422, description, 'ConcurrencyError');
export const maintenanceInfoConflict = (description: string) => new OsbError(422, description, 'MaintenanceInfoConflict');
