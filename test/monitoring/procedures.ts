/** The procedure runbooks issue 7 asks for (docs/runbooks/<name>.md). */
export const PROCEDURE_RUNBOOKS = [
  'procedure-redrive-dlq',
  'procedure-pin-region',
  'procedure-withdraw-route',
  'procedure-drain-region-dns',
  'procedure-rollback-ami',
];
