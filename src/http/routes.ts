/**
 * The gateway's route table: the `google.api.http` rules (and their `additional_bindings`) of every
 * service longrun serves, read from the descriptor sets, plus the few routes the gateway adds itself
 * (WaitOperation, operations under a parent, the status monitor, the Azure Resource Manager status
 * resource, watching as Server-Sent Events, the OpenAPI description).
 */
import { getExtension, hasExtension, toJson, type DescExtension, type DescMethod } from '@bufbuild/protobuf';
import type { JsonCodec } from '../protos/json.js';
import { ARM_STATUS_COLLECTION } from './async-answer.js';
import { matchTemplate, parseTemplate, type PathTemplate, type TemplateMatch } from './template.js';

export type HttpVerb = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What the gateway does for a route. */
export type Action =
  | 'create' // a long-running method: start an operation
  | 'get'
  | 'list'
  | 'cancel'
  | 'delete'
  | 'wait'
  | 'watch' // Server-Sent Events of longrun.v1.Watcher/WatchOperation
  | 'status' // the status monitor resource
  | 'status-cancel'
  | 'arm-status' // the Azure Resource Manager status resource (Azure-AsyncOperation)
  | 'openapi';

export interface Route {
  method: HttpVerb;
  template: PathTemplate;
  /** '' no body, '*' the whole request, else the request field the body fills. */
  body: string;
  /** The gRPC method it stands for, `/package.Service/Method`; '' for the gateway's own resources. */
  rpc: string;
  /** Request message type ('' when the route takes none). */
  requestType: string;
  action: Action;
  /** Added by the gateway rather than read from an annotation. */
  extension: boolean;
}

export const OPERATIONS_SERVICE = 'google.longrunning.Operations';
export const OPENAPI_PATH = '/openapi.json';
const OPERATIONS_ACTIONS: Record<string, Action> = {
  GetOperation: 'get',
  ListOperations: 'list',
  CancelOperation: 'cancel',
  DeleteOperation: 'delete',
  WaitOperation: 'wait',
};
const rpcOf = (method: string) => `/${OPERATIONS_SERVICE}/${method}`;
const requestOf = (method: string) => `google.longrunning.${method}Request`;

interface RawRule {
  get?: string;
  put?: string;
  post?: string;
  delete?: string;
  patch?: string;
  custom?: { kind?: string; path?: string };
  body?: string;
  additionalBindings?: RawRule[];
}

/** Routes of `services` (fully-qualified names) from their annotations, then the gateway's own. */
export function buildRoutes(codec: JsonCodec, services: readonly string[]): Route[] {
  const http = codec.registry.getExtension('google.api.http');
  if (http === undefined) throw new Error('google/api/annotations.proto is not in the descriptor sets');
  // The status monitor comes first: its paths would otherwise read as (invalid) operation names.
  const routes: Route[] = [...statusMonitorRoutes()];
  for (const serviceName of services) {
    const service = codec.registry.getService(serviceName);
    if (service === undefined) throw new Error(`service ${serviceName} is not in the descriptor sets`);
    for (const method of service.methods) {
      const rpc = `/${serviceName}/${method.name}`;
      const action: Action = serviceName === OPERATIONS_SERVICE ? OPERATIONS_ACTIONS[method.name] ?? 'create' : 'create';
      for (const rule of rulesOf(method, http)) routes.push(routeOf(rule, rpc, method.input.typeName, action, false));
    }
  }
  if (services.includes(OPERATIONS_SERVICE)) routes.push(...operationsExtensions());
  routes.push({ method: 'GET', template: parseTemplate(OPENAPI_PATH), body: '', rpc: '', requestType: '', action: 'openapi', extension: true });
  return routes;
}

/**
 * WaitOperation has no binding in Google's file (and ours stays identical to it), so the gateway
 * adds one; and operations created under a parent (`projects/p/locations/l/operations/{id}`) are
 * reachable at `/v1/{their name}`, as Google's services bind their own operations.
 */
function operationsExtensions(): Route[] {
  const ext = (method: HttpVerb, path: string, body: string, name: string): Route => ({
    method,
    template: parseTemplate(path),
    body,
    rpc: rpcOf(name),
    requestType: requestOf(name),
    action: OPERATIONS_ACTIONS[name]!,
    extension: true,
  });
  return [
    ext('POST', '/v1/{name=operations/**}:wait', '*', 'WaitOperation'),
    ext('GET', '/v1/{name=**/operations/*}', '', 'GetOperation'),
    ext('DELETE', '/v1/{name=**/operations/*}', '', 'DeleteOperation'),
    ext('POST', '/v1/{name=**/operations/*}:cancel', '*', 'CancelOperation'),
    ext('POST', '/v1/{name=**/operations/*}:wait', '*', 'WaitOperation'),
    ext('GET', '/v1/{name=**}/operations', '', 'ListOperations'),
    ...['operations/**', '**/operations/*'].map(
      (name): Route => ({
        method: 'GET',
        template: parseTemplate(`/v1/{name=${name}}:watch`),
        body: '',
        rpc: WATCH_RPC,
        requestType: 'longrun.v1.WatchOperationRequest',
        action: 'watch',
        extension: true,
      }),
    ),
  ];
}

export const WATCH_RPC = '/longrun.v1.Watcher/WatchOperation';

/**
 * `GET /v1/{operation name}/status` and `POST .../status/cancel` (the status monitor, see
 * ../operations/status-monitor.ts), and `GET /v1/operationStatuses/{operation name}` (the ARM
 * status resource, see ../operations/arm-status.ts; its paths are in async-answer.ts).
 */
function statusMonitorRoutes(): Route[] {
  const routes: Route[] = [];
  for (const name of ['operations/*', '**/operations/*']) {
    routes.push({ method: 'GET', template: parseTemplate(`/v1/{name=${name}}/status`), body: '', rpc: rpcOf('GetOperation'), requestType: requestOf('GetOperation'), action: 'status', extension: true });
    routes.push({ method: 'POST', template: parseTemplate(`/v1/{name=${name}}/status/cancel`), body: '', rpc: rpcOf('CancelOperation'), requestType: requestOf('CancelOperation'), action: 'status-cancel', extension: true });
    routes.push({ method: 'GET', template: parseTemplate(`/v1/${ARM_STATUS_COLLECTION}/{name=${name}}`), body: '', rpc: rpcOf('GetOperation'), requestType: requestOf('GetOperation'), action: 'arm-status', extension: true });
  }
  return routes;
}

function rulesOf(method: DescMethod, http: DescExtension): RawRule[] {
  const options = method.proto.options;
  if (options === undefined || http.message === undefined || !hasExtension(options, http)) return [];
  const rule = toJson(http.message, getExtension(options, http) as never) as RawRule;
  const { additionalBindings = [], ...primary } = rule;
  // Bindings inside additional bindings are not allowed (http.proto); only one level is read.
  return [primary, ...additionalBindings.map(({ additionalBindings: _nested, ...binding }) => binding)];
}

function routeOf(rule: RawRule, rpc: string, requestType: string, action: Action, extension: boolean): Route {
  const [method, path] = patternOf(rule, rpc);
  return { method, template: parseTemplate(path), body: rule.body ?? '', rpc, requestType, action, extension };
}

function patternOf(rule: RawRule, rpc: string): [HttpVerb, string] {
  for (const verb of ['get', 'put', 'post', 'delete', 'patch'] as const) {
    const path = rule[verb];
    if (path !== undefined) return [verb.toUpperCase() as HttpVerb, path];
  }
  const kind = rule.custom?.kind?.toUpperCase();
  if (rule.custom?.path !== undefined && (kind === 'GET' || kind === 'POST' || kind === 'PUT' || kind === 'PATCH' || kind === 'DELETE')) {
    return [kind, rule.custom.path];
  }
  throw new Error(`${rpc}: google.api.http rule without a pattern the gateway serves`);
}

export type RouteLookup =
  | { kind: 'found'; route: Route; match: TemplateMatch }
  | { kind: 'not-found' }
  | { kind: 'method-not-allowed'; allowed: HttpVerb[] };

/**
 * The first route whose template matches `rawPath` and whose method is `method` (HEAD is GET).
 * When a route with a `:verb` matches, only routes with a verb are considered: the verb is peeled
 * off only where a route with that verb exists, and then it is that route or a 405.
 */
export function findRoute(routes: readonly Route[], method: string, rawPath: string): RouteLookup {
  const candidates: { route: Route; match: TemplateMatch }[] = [];
  for (const route of routes) {
    const match = matchTemplate(route.template, rawPath);
    if (match !== undefined) candidates.push({ route, match });
  }
  if (candidates.length === 0) return { kind: 'not-found' };
  const withVerb = candidates.filter((candidate) => candidate.route.template.verb !== undefined);
  const considered = withVerb.length > 0 ? withVerb : candidates;
  const wanted = method === 'HEAD' ? 'GET' : method;
  const found = considered.find((candidate) => candidate.route.method === wanted);
  if (found !== undefined) return { kind: 'found', ...found };
  return { kind: 'method-not-allowed', allowed: [...new Set(considered.map((candidate) => candidate.route.method))] };
}
