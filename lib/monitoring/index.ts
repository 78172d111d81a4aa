export { AlarmTopic, importedAlarmTopic } from './alarm-topic';
export { BrokerAlarms, BROKER_TABLE_OPERATIONS } from './broker-alarms';
export { BrokerMonitoring } from './broker-monitoring';
export { ControlPlaneAlarms } from './control-plane-alarms';
export { dashboardNames, GlobalDashboard, RegionDashboard } from './dashboards';
export { FleetAlarms, LAUNCH_FAILURES_RUNBOOK } from './fleet-alarms';
export { FleetMonitoring } from './fleet-monitoring';
export { alarmDescription, RUNBOOK_DIR, runbookAlarm, runbookLine, runbookOf } from './runbook';
export { FLEET_REGION_ALARMS, fleetAlarmArn } from './alarm-names';
