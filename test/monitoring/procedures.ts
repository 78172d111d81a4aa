/** The procedure runbooks issues 7, 13 and 15 ask for (docs/runbooks/<name>.md). */
export const PROCEDURE_RUNBOOKS = [
  'procedure-redrive-dlq',
  'procedure-pin-region',
  'procedure-withdraw-route',
  'procedure-drain-region-dns',
  'procedure-rollback-ami',
  'procedure-drill-alarms',
  'procedure-rotate-discovery-token',
];
