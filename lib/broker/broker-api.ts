import { ArnFormat, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { PlatformConfig } from '../config';
import { logRetention } from '../control-plane/log-retention';

export interface BrokerApiProps {
  readonly config: PlatformConfig;
  /** Every OSB route goes to this function (Lambda proxy integration). */
  readonly apiFunction: lambda.IFunction;
  /** REQUEST authorizer checking HTTP basic auth. */
  readonly authorizerFunction: lambda.IFunction;
  /** Stage throttling: steady requests per second and burst. */
  readonly throttle?: { readonly rateLimit: number; readonly burstLimit: number };
}

/** The realm OSB platforms see in `WWW-Authenticate` on a 401. */
export const BROKER_AUTH_REALM = 'edge-broker';
export const BROKER_STAGE_NAME = 'prod';

/** An OSB error body (`{"error","description"}`) as a gateway response template. */
function osbError(error: string, description: string): Record<string, string> {
  return { 'application/json': JSON.stringify({ error, description }) };
}

/**
 * The OSB HTTP surface: an API Gateway REST API whose every route goes to the api
 * function, guarded by a basic-auth REQUEST authorizer, WAF, stage throttling, request
 * validation, JSON access logs and X-Ray tracing. API Gateway's own errors answer OSB JSON.
 */
export class BrokerApi extends Construct {
  readonly api: apigateway.RestApi;
  readonly accessLogs: logs.LogGroup;
  readonly webAcl: wafv2.CfnWebACL;

  constructor(scope: Construct, id: string, props: BrokerApiProps) {
    super(scope, id);
    const { config } = props;
    const throttle = props.throttle ?? { rateLimit: 50, burstLimit: 100 };

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: logRetention(config.logRetentionDays) });

    const authorizer = new apigateway.RequestAuthorizer(this, 'BasicAuth', {
      handler: props.authorizerFunction,
      identitySources: [apigateway.IdentitySource.header('Authorization')],
      // Short: a changed or revoked password takes effect within a minute.
      resultsCacheTtl: Duration.seconds(60),
    });

    this.api = new apigateway.RestApi(this, 'Api', {
      restApiName: `${config.platformName}-broker`,
      description: `${config.platformName} Open Service Broker API (OSB v2.17)`,
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      // The stage's access logs need the account's API Gateway CloudWatch role, a per-region
      // account setting (AWS::ApiGateway::Account) that a fresh account lacks: without it the
      // stage fails with "CloudWatch Logs role ARN must be set in account settings to enable
      // logging". The stack sets it to a role of its own (AmazonAPIGatewayPushToCloudWatchLogs),
      // and the stage waits for it. Kept when the stack goes (other APIs of the account may log
      // through it), deleted only by the rollback of a failed first create.
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
      deployOptions: {
        stageName: BROKER_STAGE_NAME,
        tracingEnabled: true,
        throttlingRateLimit: throttle.rateLimit,
        throttlingBurstLimit: throttle.burstLimit,
        accessLogDestination: new apigateway.LogGroupLogDestination(this.accessLogs),
        accessLogFormat: apigateway.AccessLogFormat.custom(
          JSON.stringify({
            requestId: apigateway.AccessLogField.contextRequestId(),
            extendedRequestId: apigateway.AccessLogField.contextExtendedRequestId(),
            xrayTraceId: apigateway.AccessLogField.contextXrayTraceId(),
            requestTime: apigateway.AccessLogField.contextRequestTime(),
            sourceIp: apigateway.AccessLogField.contextIdentitySourceIp(),
            userAgent: apigateway.AccessLogField.contextIdentityUserAgent(),
            principalId: apigateway.AccessLogField.contextAuthorizerPrincipalId(),
            httpMethod: apigateway.AccessLogField.contextHttpMethod(),
            resourcePath: apigateway.AccessLogField.contextResourcePath(),
            path: apigateway.AccessLogField.contextPath(),
            protocol: apigateway.AccessLogField.contextProtocol(),
            status: apigateway.AccessLogField.contextStatus(),
            responseLength: apigateway.AccessLogField.contextResponseLength(),
            responseLatency: apigateway.AccessLogField.contextResponseLatency(),
            integrationStatus: apigateway.AccessLogField.contextIntegrationStatus(),
            integrationLatency: apigateway.AccessLogField.contextIntegrationLatency(),
            authorizerStatus: apigateway.AccessLogField.contextAuthorizeStatus(),
            authorizerError: apigateway.AccessLogField.contextAuthorizeError(),
            errorType: apigateway.AccessLogField.contextErrorResponseType(),
            errorMessage: apigateway.AccessLogField.contextErrorMessage(),
            wafResponse: apigateway.AccessLogField.contextWafResponseCode(),
          }),
        ),
      },
      defaultMethodOptions: { authorizer, authorizationType: apigateway.AuthorizationType.CUSTOM },
    });
    Validations.of(this.api).acknowledge(
      {
        id: 'AwsSolutions-APIG6',
        reason:
          'Every request is recorded in the JSON access log (status, latency, authorizer and integration errors). Execution logs would go to a log group API Gateway creates itself (API-Gateway-Execution-Logs_<api-id>/<stage>), outside the stack and with no retention, and would repeat what the access log and the functions\' own logs already hold.',
      },
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason:
          'The account\'s API Gateway CloudWatch role (what AWS::ApiGateway::Account points to): this AWS-managed policy is the permission set API Gateway documents for it, kept current by AWS.',
      },
      {
        id: 'AwsSolutions-COG4',
        reason: 'OSB platforms authenticate with HTTP basic auth (OSB spec); the REQUEST Lambda authorizer checks it against Secrets Manager. A Cognito user pool authorizer cannot verify basic auth.',
      },
    );

    this.addGatewayResponses();
    this.addRoutes(props.apiFunction);
    this.webAcl = this.addWebAcl(config);
  }

  private addRoutes(apiFunction: lambda.IFunction): void {
    const integration = new apigateway.LambdaIntegration(apiFunction, { proxy: true, allowTestInvoke: false });
    // Path parameters are declared required and checked; headers are left to the broker
    // (OSB wants 412 from the broker, not 400 from the gateway, for X-Broker-API-Version).
    const paramsValidator = new apigateway.RequestValidator(this, 'ParamsValidator', {
      restApi: this.api,
      validateRequestParameters: true,
      validateRequestBody: false,
    });
    const bodyValidator = new apigateway.RequestValidator(this, 'BodyValidator', {
      restApi: this.api,
      validateRequestParameters: true,
      validateRequestBody: true,
    });
    // The gateway only checks that a body is a JSON object; the field rules (service_id,
    // plan_id, parameters) stay in the broker, validated by the catalog's schema.
    const jsonObject = this.api.addModel('OsbJsonObject', {
      contentType: 'application/json',
      modelName: 'OsbJsonObject',
      description: 'An OSB request body: a JSON object',
      schema: { schema: apigateway.JsonSchemaVersion.DRAFT4, type: apigateway.JsonSchemaType.OBJECT },
    });

    const pathParams = (...names: string[]) => Object.fromEntries(names.map((name) => [`method.request.path.${name}`, true]));
    const read = (resource: apigateway.IResource, ...params: string[]) =>
      resource.addMethod('GET', integration, { requestValidator: paramsValidator, requestParameters: pathParams(...params) });
    const remove = (resource: apigateway.IResource, ...params: string[]) =>
      resource.addMethod('DELETE', integration, { requestValidator: paramsValidator, requestParameters: pathParams(...params) });
    const write = (resource: apigateway.IResource, method: 'PUT' | 'PATCH', ...params: string[]) =>
      resource.addMethod(method, integration, {
        requestValidator: bodyValidator,
        requestParameters: pathParams(...params),
        requestModels: { 'application/json': jsonObject },
      });

    const v2 = this.api.root.addResource('v2');
    read(v2.addResource('catalog'));

    const instance = v2.addResource('service_instances').addResource('{instance_id}');
    write(instance, 'PUT', 'instance_id');
    write(instance, 'PATCH', 'instance_id');
    read(instance, 'instance_id');
    remove(instance, 'instance_id');
    read(instance.addResource('last_operation'), 'instance_id');

    const binding = instance.addResource('service_bindings').addResource('{binding_id}');
    write(binding, 'PUT', 'instance_id', 'binding_id');
    read(binding, 'instance_id', 'binding_id');
    remove(binding, 'instance_id', 'binding_id');
    read(binding.addResource('last_operation'), 'instance_id', 'binding_id');
  }

  /** API Gateway's own answers, in OSB's error shape. */
  private addGatewayResponses(): void {
    const json = { 'Content-Type': "'application/json'" };
    const unauthorized = {
      statusCode: '401',
      responseHeaders: { ...json, 'WWW-Authenticate': `'Basic realm="${BROKER_AUTH_REALM}"'` },
      templates: osbError('Unauthorized', 'Missing or invalid broker credentials (HTTP basic auth).'),
    };
    this.api.addGatewayResponse('Unauthorized', { type: apigateway.ResponseType.UNAUTHORIZED, ...unauthorized });
    // The authorizer denies bad credentials; answer that like missing ones (401, not 403),
    // so an OSB platform prompts for credentials instead of treating it as forbidden.
    this.api.addGatewayResponse('AccessDenied', { type: apigateway.ResponseType.ACCESS_DENIED, ...unauthorized });
    this.api.addGatewayResponse('BadRequestBody', {
      type: apigateway.ResponseType.BAD_REQUEST_BODY,
      statusCode: '400',
      responseHeaders: json,
      templates: { 'application/json': '{"error":"BadRequest","description":"The request body must be a JSON object: $context.error.message"}' },
    });
    // OSB JSON answers for API Gateway's own errors. Unknown routes: API Gateway says
    // 403 "Missing Authentication Token"; OSB clients expect 404.
    const osbAnswers: ReadonlyArray<[id: string, type: apigateway.ResponseType, statusCode: string | undefined, error: string, description: string]> = [
      ['BadRequestParameters', apigateway.ResponseType.BAD_REQUEST_PARAMETERS, '400', 'BadRequest', 'A required path parameter is missing.'],
      ['MissingRoute', apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN, '404', 'NotFound', 'No such broker route.'],
      ['Throttled', apigateway.ResponseType.THROTTLED, '429', 'TooManyRequests', 'Request rate above the broker limit; retry later.'],
      ['WafFiltered', apigateway.ResponseType.WAF_FILTERED, '403', 'Forbidden', 'The request was blocked by the web application firewall.'],
      ['Default4xx', apigateway.ResponseType.DEFAULT_4XX, undefined, 'BadRequest', 'The broker gateway rejected the request.'],
      ['Default5xx', apigateway.ResponseType.DEFAULT_5XX, undefined, 'InternalError', 'The broker is temporarily unavailable; retry later.'],
    ];
    for (const [responseId, type, statusCode, error, description] of osbAnswers) {
      this.api.addGatewayResponse(responseId, { type, statusCode, responseHeaders: json, templates: osbError(error, description) });
    }
  }

  /** AWS managed rule groups plus a per-IP rate limit, in front of the stage. */
  private addWebAcl(config: PlatformConfig): wafv2.CfnWebACL {
    const visibility = (metricName: string) => ({ cloudWatchMetricsEnabled: true, sampledRequestsEnabled: true, metricName });
    const managed = (priority: number, name: string, ruleActionOverrides?: wafv2.CfnWebACL.RuleActionOverrideProperty[]) => ({
      name,
      priority,
      overrideAction: { none: {} },
      statement: { managedRuleGroupStatement: { vendorName: 'AWS', name, ruleActionOverrides } },
      visibilityConfig: visibility(name),
    });
    const count = (name: string) => ({ name, actionToUse: { count: {} } });

    const webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      name: `${config.platformName}-broker`,
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(`${config.platformName}-broker`),
      rules: [
        managed(0, 'AWSManagedRulesAmazonIpReputationList'),
        managed(1, 'AWSManagedRulesKnownBadInputsRuleSet'),
        // Count (not block) two common rules that misfire on OSB: some platforms send no
        // User-Agent, and a route's parameters can exceed the 8 KB body limit.
        managed(2, 'AWSManagedRulesCommonRuleSet', [count('NoUserAgent_HEADER'), count('SizeRestrictions_BODY')]),
        {
          name: 'RatePerIp',
          priority: 3,
          action: { block: {} },
          statement: { rateBasedStatement: { aggregateKeyType: 'IP', limit: 1000, evaluationWindowSec: 300 } },
          visibilityConfig: visibility('RatePerIp'),
        },
      ],
    });
    const association = new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
      resourceArn: this.api.deploymentStage.stageArn,
      webAclArn: webAcl.attrArn,
    });
    association.node.addDependency(this.api.deploymentStage);

    // WAF logs (what was blocked or counted, and why), without the basic-auth credentials.
    const wafLogGroupName = `aws-waf-logs-${config.platformName}-broker`; // WAF requires this prefix
    const wafLogs = new logs.LogGroup(this, 'WafLogs', { logGroupName: wafLogGroupName, retention: logRetention(config.logRetentionDays) });
    const logging = new wafv2.CfnLoggingConfiguration(this, 'WafLogging', {
      resourceArn: webAcl.attrArn,
      // The log group ARN without the trailing ':*' (GetAtt Arn has it; WAF refuses it).
      logDestinationConfigs: [
        Stack.of(this).formatArn({ service: 'logs', resource: 'log-group', resourceName: wafLogGroupName, arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
      ],
      redactedFields: [{ singleHeader: { Name: 'authorization' } }],
    });
    logging.node.addDependency(wafLogs);
    return webAcl;
  }
}
