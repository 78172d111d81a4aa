/**
 * A model of how CloudWatch evaluates a metric alarm (CloudWatch User Guide, "Evaluating an
 * alarm" and "How alarm state is evaluated when data is missing"):
 * - CloudWatch retrieves more datapoints than Evaluation Periods (the evaluation range; its
 *   example retrieves 5 for 3 periods: here, evaluation periods + 2);
 * - with at least Evaluation Periods real datapoints in the range, the most recent real ones
 *   are evaluated and the missing-data setting is not used;
 * - otherwise the missing ones are filled per TreatMissingData, as few as possible, real
 *   datapoints anywhere in the range included; all of them missing with `missing` gives
 *   INSUFFICIENT_DATA;
 * - ALARM when at least Datapoints to Alarm of the evaluated datapoints breach, else OK.
 * A math alarm evaluates its expression's series (metric-math.ts) the same way.
 */
import { TemplateReader, CfnResource } from './template';
import { EvalContext, MathVariant, Series, evaluateExpression } from './metric-math';

export type AlarmState = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';

export interface MetricRef {
  readonly namespace: string;
  readonly name: string;
  readonly dimensions: Readonly<Record<string, string>>;
  /** Statistic or extended statistic (p99). */
  readonly stat: string;
  readonly period: number;
}

/** What the world reports: the value of a metric's statistic in period `t` (0 oldest), or undefined (no datapoint). */
export type World = (metric: MetricRef, t: number, length: number) => number | undefined;

export interface AlarmDefinition {
  readonly id: string;
  readonly name: string;
  readonly threshold: number;
  readonly comparison: string;
  readonly evaluationPeriods: number;
  readonly datapointsToAlarm: number;
  readonly treatMissingData: string;
  /** The alarm's single metric, or its math expression with the metrics it uses. */
  readonly metric?: MetricRef;
  readonly expression?: { readonly text: string; readonly metrics: Readonly<Record<string, MetricRef>> };
}

type Dim = { Name: string; Value: unknown };
const dims = (reader: TemplateReader, list: unknown) => Object.fromEntries(((list as Dim[] | undefined) ?? []).map((d) => [d.Name, String(reader.resolve(d.Value))]));

/** The alarm as CloudWatch stores it, intrinsic functions resolved. */
export function alarmDefinition(reader: TemplateReader, id: string, alarm: CfnResource): AlarmDefinition {
  const p = alarm.Properties;
  const base = {
    id,
    name: String(reader.resolve(p.AlarmName ?? id)),
    threshold: Number(p.Threshold),
    comparison: String(p.ComparisonOperator),
    evaluationPeriods: Number(p.EvaluationPeriods),
    datapointsToAlarm: Number(p.DatapointsToAlarm ?? p.EvaluationPeriods),
    treatMissingData: String(p.TreatMissingData ?? 'missing'),
  };
  if (p.MetricName) {
    return {
      ...base,
      metric: { namespace: String(p.Namespace), name: String(p.MetricName), dimensions: dims(reader, p.Dimensions), stat: String(p.Statistic ?? p.ExtendedStatistic), period: Number(p.Period) },
    };
  }
  type Query = { Id: string; Expression?: string; MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions?: Dim[] }; Stat: string; Period: number }; ReturnData?: boolean };
  const queries = (p.Metrics as Query[]) ?? [];
  const result = queries.find((q) => q.Expression && q.ReturnData !== false);
  if (!result) throw new Error(`${id}: a math alarm without a returned expression`);
  const metrics = Object.fromEntries(
    queries
      .filter((q) => q.MetricStat)
      .map((q) => [q.Id, { namespace: q.MetricStat!.Metric.Namespace, name: q.MetricStat!.Metric.MetricName, dimensions: dims(reader, q.MetricStat!.Metric.Dimensions), stat: q.MetricStat!.Stat, period: q.MetricStat!.Period }]),
  );
  return { ...base, expression: { text: result.Expression!, metrics } };
}

function breaches(comparison: string, value: number, threshold: number): boolean {
  switch (comparison) {
    case 'GreaterThanThreshold':
      return value > threshold;
    case 'GreaterThanOrEqualToThreshold':
      return value >= threshold;
    case 'LessThanThreshold':
      return value < threshold;
    case 'LessThanOrEqualToThreshold':
      return value <= threshold;
    default:
      throw new Error(`comparison ${comparison} is not modelled`);
  }
}

/** The alarm's datapoints over its evaluation range (oldest first). */
export function alarmSeries(alarm: AlarmDefinition, world: World, variant: MathVariant): Series {
  const length = alarm.evaluationPeriods + 2;
  const seriesOf = (metric: MetricRef): Series => Array.from({ length }, (_, t) => world(metric, t, length));
  if (alarm.metric) return seriesOf(alarm.metric);
  const expression = alarm.expression!;
  const ctx: EvalContext = {
    length,
    variant,
    series: (id) => {
      const metric = expression.metrics[id];
      if (!metric) throw new Error(`${alarm.name}: the expression reads ${id}, which the alarm does not define`);
      return seriesOf(metric);
    },
  };
  return evaluateExpression(expression.text, ctx);
}

export function evaluateAlarm(alarm: AlarmDefinition, world: World, variant: MathVariant): AlarmState {
  const series = alarmSeries(alarm, world, variant);
  const n = alarm.evaluationPeriods;
  const real = series.filter((x): x is number => x !== undefined && !Number.isNaN(x));
  let evaluated: Array<boolean | undefined>;
  if (real.length >= n) {
    evaluated = real.slice(-n).map((x) => breaches(alarm.comparison, x, alarm.threshold));
  } else {
    const fill = (): boolean | undefined => {
      switch (alarm.treatMissingData) {
        case 'breaching':
          return true;
        case 'notBreaching':
          return false;
        case 'missing':
          return undefined;
        default:
          throw new Error(`${alarm.name}: TreatMissingData ${alarm.treatMissingData} is not modelled`);
      }
    };
    if (real.length === 0 && alarm.treatMissingData === 'missing') return 'INSUFFICIENT_DATA';
    evaluated = [...real.map((x) => breaches(alarm.comparison, x, alarm.threshold)), ...new Array(n - real.length).fill(undefined).map(fill)];
  }
  const breaching = evaluated.filter((b) => b === true).length;
  return breaching >= alarm.datapointsToAlarm ? 'ALARM' : 'OK';
}
