import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

/** Where the runbooks live, relative to the repository root (an alarm names its file there). */
export const RUNBOOK_DIR = 'docs/runbooks';

/** The last line of every alarm description: `Runbook: docs/runbooks/<name>.md`. */
export function runbookLine(runbook: string): string {
  return `Runbook: ${RUNBOOK_DIR}/${runbook}.md`;
}

/** The runbook an alarm description names, or undefined (the inverse of `runbookLine`). */
export function runbookOf(description: string): string | undefined {
  return /Runbook: docs\/runbooks\/([a-z0-9-]+)\.md$/.exec(description)?.[1];
}

/** `<meaning>\n<details>\nRunbook: docs/runbooks/<name>.md`, within CloudWatch's 1024 characters. */
export function alarmDescription(meaning: string, runbook: string, details?: string): string {
  const text = [meaning, details, runbookLine(runbook)].filter(Boolean).join('\n');
  if (text.length > 1024) throw new Error(`alarm description of ${runbook} is ${text.length} characters; CloudWatch allows 1024`);
  return text;
}

/**
 * What silence (no datapoint at all) from an alarm's metrics means: chosen per alarm, it sets
 * the alarm's TreatMissingData and a line of its description.
 * - `breaching`: the emitter reports continuously (0 included), so silence is itself a failure:
 *   missing data breaches, the alarm pages when its emitter dies.
 * - `notBreaching`: silence is health (AWS publishes the metric only when something happens,
 *   or there is no traffic to measure) or the emitter's death is another alarm's to report:
 *   `coveredBy` names that alarm (the name after the platform prefix; it may be this alarm
 *   itself when its expression turns the emitter's silence into a breaching value).
 * test/monitoring/dead-emitters.test.ts silences each of the platform's own emitters and checks
 * that every alarm reading it pages, or that the alarm it names does.
 */
export type Silence =
  | { readonly treat: 'breaching'; readonly why: string }
  | { readonly treat: 'notBreaching'; readonly why: string; readonly coveredBy?: string };

export const silence = {
  breaching: (why: string): Silence => ({ treat: 'breaching', why }),
  notBreaching: (why: string, coveredBy?: string): Silence => ({ treat: 'notBreaching', why, coveredBy }),
};

/** The description line that says what silence means for this alarm. */
function silenceLine(s: Silence, namePrefix: string): string {
  if (s.treat === 'breaching') return `No data: breaching (${s.why}).`;
  return `No data: not breaching (${s.why})${s.coveredBy ? `; ${namePrefix}-${s.coveredBy} pages if its emitter goes silent` : ''}.`;
}

const silences = new WeakMap<cloudwatch.IAlarm, Silence>();

/** The silence an alarm was created with (runbookAlarm), for the tests and the docs. */
export function silenceOf(alarm: cloudwatch.IAlarm): Silence | undefined {
  return silences.get(alarm);
}

export interface RunbookAlarmProps {
  /** Runbook file name without `.md`; also the alarm's name after the prefix. */
  readonly runbook: string;
  /** Prefix of the alarm name, e.g. `edge` → `edge-broker-dlq-not-empty`. */
  readonly namePrefix: string;
  /** One line: what is wrong when this alarm fires. */
  readonly meaning: string;
  /** Optional second line: the threshold in words, what to look at first. */
  readonly details?: string;
  readonly metric: cloudwatch.IMetric;
  readonly threshold: number;
  readonly comparisonOperator: cloudwatch.ComparisonOperator;
  readonly evaluationPeriods: number;
  readonly datapointsToAlarm?: number;
  /** Chosen per alarm on purpose: what silence means for this metric (sets TreatMissingData). */
  readonly silence: Silence;
  /** The region's alarm topic: ALARM and OK both go there. */
  readonly topic: sns.ITopic;
  /** Extra suffix of the alarm name when one runbook covers several alarms (e.g. one per function). */
  readonly nameSuffix?: string;
}

/**
 * An alarm that names its runbook in the description's last line, says what missing data means,
 * notifies the region's topic on ALARM and on OK (on-call sees the recovery too), and has a
 * stable name.
 */
export function runbookAlarm(scope: Construct, id: string, props: RunbookAlarmProps): cloudwatch.Alarm {
  const details = [props.details, silenceLine(props.silence, props.namePrefix)].filter(Boolean).join('\n');
  const alarm = new cloudwatch.Alarm(scope, id, {
    alarmName: [props.namePrefix, props.runbook, props.nameSuffix].filter(Boolean).join('-'),
    alarmDescription: alarmDescription(props.meaning, props.runbook, details),
    metric: props.metric,
    threshold: props.threshold,
    comparisonOperator: props.comparisonOperator,
    evaluationPeriods: props.evaluationPeriods,
    datapointsToAlarm: props.datapointsToAlarm,
    treatMissingData: props.silence.treat === 'breaching' ? cloudwatch.TreatMissingData.BREACHING : cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  silences.set(alarm, props.silence);
  notify(alarm, props.topic);
  return alarm;
}

/** ALARM and OK actions to the topic. */
export function notify(alarm: cloudwatch.AlarmBase, topic: sns.ITopic): void {
  const action = new cwActions.SnsAction(topic);
  alarm.addAlarmAction(action);
  alarm.addOkAction(action);
}

export const ONE_MINUTE = Duration.minutes(1);
export const FIVE_MINUTES = Duration.minutes(5);
