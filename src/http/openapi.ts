/**
 * An OpenAPI 3.1 description of every route, generated from the same descriptors as the route
 * table (served at /openapi.json). Paths name each wildcard as Google's REST descriptions do
 * (`/v1/operations/{operationsId}`); JSON Schemas follow proto3 JSON (64-bit integers as strings,
 * enums by name, well-known types in their JSON forms).
 */
import { ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';
import type { AnswerStyle } from '../domain/operation.js';
import type { JsonCodec } from '../protos/json.js';
import type { Route } from './routes.js';
import { MAX_CONCURRENCY_KEY_LENGTH, PRIORITY_RANGE } from '../operations/create-options.js';

type Schema = Record<string, unknown>;

const ERROR_SCHEMA: Schema = {
  type: 'object',
  description: 'AIP-193 error body',
  properties: {
    error: {
      type: 'object',
      properties: {
        code: { type: 'integer', description: 'HTTP status' },
        message: { type: 'string' },
        status: { type: 'string', description: 'google.rpc.Code name' },
        details: { type: 'array', items: { type: 'object', properties: { '@type': { type: 'string' } } } },
      },
      required: ['code', 'message', 'status'],
    },
  },
  required: ['error'],
};

const STATUS_MONITOR_SCHEMA: Schema = {
  type: 'object',
  description: "An operation's status monitor (longrun's extension, for generic HTTP pollers)",
  properties: {
    id: { type: 'string', description: 'the operation name' },
    status: { type: 'string', enum: ['pending', 'running', 'succeeded', 'failed', 'cancelled'] },
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
    progress: { type: 'integer', minimum: 0, maximum: 100 },
    estimated_completion: { type: 'string', format: 'date-time' },
    result: { $ref: '#/components/schemas/google.protobuf.Any' },
    error: {
      type: 'object',
      properties: { code: { type: 'integer' }, message: { type: 'string' }, status: { type: 'string' } },
      required: ['code', 'message', 'status'],
    },
    metadata: { $ref: '#/components/schemas/google.protobuf.Any' },
  },
  required: ['id', 'status', 'created_at', 'updated_at', 'progress'],
};

/** Azure Resource Manager's operation status resource (the `Azure-AsyncOperation` URL); see ../operations/arm-status.ts. */
const ARM_STATUS_SCHEMA: Schema = {
  type: 'object',
  description:
    "An operation's Azure Resource Manager status resource, in the format of ARM's asynchronous API reference. " +
    'Always answered 200: a 4xx or 5xx means reading the status failed, never that the operation did.',
  properties: {
    id: { type: 'string', description: 'the path this resource is read at; its last segment is `name`' },
    name: { type: 'string', description: "the operation's id (the last segment of its resource name)" },
    status: {
      type: 'string',
      enum: ['InProgress', 'Succeeded', 'Failed', 'Canceled'],
      description: 'Succeeded, Failed and Canceled are terminal; InProgress while the operation is not done',
    },
    startTime: { type: 'string', format: 'date-time' },
    endTime: { type: 'string', format: 'date-time', description: 'once terminal' },
    percentComplete: { type: 'number', minimum: 0, maximum: 100, description: '100 once Succeeded; else the last progress the handler reported, when above 0' },
    properties: { $ref: '#/components/schemas/google.protobuf.Any', description: "the operation's response; only when Succeeded" },
    error: {
      type: 'object',
      description: 'only when Failed or Canceled',
      properties: { code: { type: 'string', description: 'google.rpc.Code name, e.g. FAILED_PRECONDITION or CANCELLED' }, message: { type: 'string' } },
      required: ['code', 'message'],
    },
  },
  required: ['id', 'name', 'status', 'startTime'],
};

/** `styleOf` gives a creating route's answer style (its method's `httpAnswer`), to say which answer is its usual one. */
export function openApiDocument(routes: readonly Route[], codec: JsonCodec, styleOf: (rpc: string) => AnswerStyle = () => 'async'): Record<string, unknown> {
  const schemas: Record<string, Schema> = {
    'longrun.Error': ERROR_SCHEMA,
    'longrun.StatusMonitor': STATUS_MONITOR_SCHEMA,
    'longrun.ArmOperationStatus': ARM_STATUS_SCHEMA,
  };
  const ref = (typeName: string): Schema => {
    addSchema(codec, typeName, schemas);
    return { $ref: `#/components/schemas/${typeName}` };
  };
  ref('google.protobuf.Any');
  const paths: Record<string, Record<string, unknown>> = {};
  const operationIds = new Set<string>();
  for (const route of routes) {
    if (route.action === 'openapi') continue;
    const { path, parameters } = openApiPath(route.template.source);
    const item = (paths[path] ??= {});
    const verb = route.method.toLowerCase();
    if (item[verb] !== undefined) continue; // the first route for a path and method is the one served
    const baseId = route.rpc === '' ? route.action : `${route.rpc.slice(1).replaceAll('/', '.')}`;
    let operationId =
      route.action === 'status' || route.action === 'status-cancel'
        ? `longrun.StatusMonitor.${route.action}`
        : route.action === 'arm-status'
          ? 'longrun.ArmOperationStatus.get'
          : baseId;
    for (let n = 2; operationIds.has(operationId); n++) operationId = `${baseId}.${n}`;
    operationIds.add(operationId);
    const operation: Record<string, unknown> = {
      operationId,
      summary: `${route.rpc === '' ? '' : route.rpc.slice(1)}${route.extension ? " (longrun's extension)" : ''}`,
      parameters: parameters.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
      responses: responsesOf(route, ref, styleOf),
    };
    if (route.method === 'POST' || route.method === 'PUT' || route.method === 'PATCH') {
      if (route.body !== '' && route.requestType !== '') {
        const schema = route.body === '*' ? ref(route.requestType) : bodyFieldSchema(codec, route.requestType, route.body, ref);
        operation['requestBody'] = { required: false, content: { 'application/json': { schema } } };
      }
      if (route.action === 'create') {
        (operation['parameters'] as unknown[]).push(
          { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 256 } },
          {
            name: 'Prefer',
            in: 'header',
            required: false,
            description:
              'RFC 7240. `respond-async`: answer 202 with Location, Operation-Location and Retry-After whatever the method\'s usual answer ' +
              '(Preference-Applied says so). `wait=N`: hold the call up to N seconds (capped as WaitOperation is); if the operation is done by then, ' +
              'answer 200 with the done Operation, else the usual answer.',
            schema: { type: 'string', examples: ['respond-async', 'wait=10', 'respond-async, wait=5'] },
          },
          {
            name: 'Longrun-Callback-Url',
            in: 'header',
            required: false,
            description: 'Where a signed webhook (Standard Webhooks) is POSTed when the operation ends.',
            schema: { type: 'string', format: 'uri' },
          },
          {
            name: 'Longrun-Start-Time',
            in: 'header',
            required: false,
            description: 'Not started before this time (RFC 3339); the operation exists at once.',
            schema: { type: 'string', format: 'date-time' },
          },
          {
            name: 'Longrun-Start-Deadline',
            in: 'header',
            required: false,
            description: 'Not started by this time (RFC 3339): it ends DEADLINE_EXCEEDED without starting.',
            schema: { type: 'string', format: 'date-time' },
          },
          {
            name: 'Longrun-Priority',
            in: 'header',
            required: false,
            description: 'Higher runs first among due operations of the method (default 0).',
            schema: { type: 'integer', minimum: PRIORITY_RANGE.min, maximum: PRIORITY_RANGE.max },
          },
          {
            name: 'Longrun-Concurrency-Key',
            in: 'header',
            required: false,
            description: 'At most one operation per key runs at once, across every server on the store.',
            schema: { type: 'string', maxLength: MAX_CONCURRENCY_KEY_LENGTH },
          },
          {
            name: 'Longrun-Timeout',
            in: 'header',
            required: false,
            description: "Execution timeout of each run, a Duration such as 30s (never above the method's); it then ends DEADLINE_EXCEEDED.",
            schema: { type: 'string', pattern: '^[0-9]+(\\.[0-9]{1,9})?s$' },
          },
        );
      }
    }
    if (route.action === 'create') {
      // AutoRest's extensions, so that Azure's generators emit a poller that follows Azure-AsyncOperation.
      operation['x-ms-long-running-operation'] = true;
      operation['x-ms-long-running-operation-options'] = { 'final-state-via': 'azure-async-operation' };
    }
    if (route.action === 'list') {
      (operation['parameters'] as unknown[]).push(
        { name: 'filter', in: 'query', required: false, schema: { type: 'string' } },
        { name: 'pageSize', in: 'query', required: false, schema: { type: 'integer' } },
        { name: 'pageToken', in: 'query', required: false, schema: { type: 'string' } },
      );
    }
    item[verb] = operation;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'longrun', version: '1', description: 'google.longrunning.Operations and long-running methods over HTTP/JSON (google.api.http)' },
    paths,
    components: {
      schemas,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    },
  };
}

function responsesOf(route: Route, ref: (typeName: string) => Schema, styleOf: (rpc: string) => AnswerStyle): Record<string, unknown> {
  const json = (schema: Schema) => ({ 'application/json': { schema } });
  const error = { description: 'AIP-193 error', content: json({ $ref: '#/components/schemas/longrun.Error' }) };
  const retryAfter = {
    'Retry-After': { description: 'seconds before polling again, while not done (operations answered in the async style only)', schema: { type: 'integer' } },
  };
  switch (route.action) {
    case 'create': {
      const usual = styleOf(route.rpc);
      const links = {
        Location: { description: "the operation's URL", schema: { type: 'string', format: 'uri' } },
        'Operation-Location': { description: "the operation's status monitor", schema: { type: 'string', format: 'uri' } },
      };
      const preferenceApplied = { 'Preference-Applied': { description: 'the Prefer preferences honoured', schema: { type: 'string' } } };
      return {
        '200': {
          description:
            (usual === 'google' ? "this method's usual answer, as Google's APIs give it (no Retry-After): " : '') +
            'the Operation; also the done Operation when `Prefer: wait=N` saw it finish',
          headers: { ...links, ...preferenceApplied },
          content: json(ref('google.longrunning.Operation')),
        },
        '202': {
          description: `${usual === 'async' ? "this method's usual answer" : 'the answer to `Prefer: respond-async`'} (the async request-reply pattern): the operation, started`,
          headers: {
            ...links,
            'Azure-AsyncOperation': {
              description: "the operation's Azure Resource Manager status resource (longrun.ArmOperationStatus)",
              schema: { type: 'string', format: 'uri' },
            },
            ...retryAfter,
            ...preferenceApplied,
          },
          content: json(ref('google.longrunning.Operation')),
        },
        default: error,
      };
    }
    case 'get':
    case 'wait':
      return { '200': { description: 'the operation', headers: retryAfter, content: json(ref('google.longrunning.Operation')) }, default: error };
    case 'watch':
      return {
        '200': {
          description:
            'Server-Sent Events: `event: operation` with a longrun.v1.WatchOperationResponse as JSON and an `id` (send it back as Last-Event-ID to resume) ' +
            'whenever the operation changes, `: keep-alive` comments, and `event: end` after the done state',
          // Each event's data is this message as JSON; OpenAPI has no schema for an event stream itself.
          content: { 'text/event-stream': { schema: { type: 'string' }, 'x-event-data': ref('longrun.v1.WatchOperationResponse') } },
        },
        default: error,
      };
    case 'list':
      return { '200': { description: 'a page of operations', content: json(ref('google.longrunning.ListOperationsResponse')) }, default: error };
    case 'status':
    case 'status-cancel':
      return {
        '200': { description: 'the status monitor', headers: retryAfter, content: json({ $ref: '#/components/schemas/longrun.StatusMonitor' }) },
        ...(route.action === 'status-cancel' && { '409': { description: 'the operation is already done', content: error.content } }),
        default: error,
      };
    case 'arm-status':
      return {
        '200': {
          description: "the operation's Azure Resource Manager status, whatever its outcome",
          headers: retryAfter,
          content: json({ $ref: '#/components/schemas/longrun.ArmOperationStatus' }),
        },
        default: { description: 'reading the status failed (the operation itself may be fine)', content: error.content },
      };
    default:
      return { '200': { description: 'done', content: json({ type: 'object' }) }, default: error };
  }
}

/** `/v1/{name=projects/*}/x:verb` as `/v1/projects/{projectsId}/x:verb`; `**` as `{fieldPath}`. */
export function openApiPath(template: string): { path: string; parameters: string[] } {
  const parameters: string[] = [];
  const path = template.replace(/\{([^}=]+)(?:=([^}]*))?\}/g, (_whole, field: string, pattern: string | undefined) => {
    const parts = (pattern ?? '*').split('/');
    return parts
      .map((part, index) => {
        if (part !== '*' && part !== '**') return part;
        const previous = parts[index - 1];
        const base = part === '*' && previous !== undefined && previous !== '*' && previous !== '**' ? `${previous}Id` : `${field.replaceAll('.', '_')}${part === '**' ? 'Path' : ''}`;
        let name = base;
        for (let n = 2; parameters.includes(name); n++) name = `${base}${n}`;
        parameters.push(name);
        return `{${name}}`;
      })
      .join('/');
  });
  return { path, parameters };
}

function bodyFieldSchema(codec: JsonCodec, requestType: string, field: string, ref: (typeName: string) => Schema): Schema {
  const found = codec.message(requestType)?.fields.find((f) => f.name === field);
  return found === undefined ? {} : fieldSchema(found, ref);
}

const WELL_KNOWN: Record<string, Schema> = {
  'google.protobuf.Any': { type: 'object', properties: { '@type': { type: 'string' } }, required: ['@type'], additionalProperties: true },
  'google.protobuf.Timestamp': { type: 'string', format: 'date-time' },
  'google.protobuf.Duration': { type: 'string', pattern: '^-?[0-9]+(\\.[0-9]{1,9})?s$' },
  'google.protobuf.FieldMask': { type: 'string' },
  'google.protobuf.Empty': { type: 'object' },
  'google.protobuf.Struct': { type: 'object', additionalProperties: true },
  'google.protobuf.Value': {},
  'google.protobuf.ListValue': { type: 'array' },
  'google.protobuf.BoolValue': { type: 'boolean' },
  'google.protobuf.StringValue': { type: 'string' },
  'google.protobuf.BytesValue': { type: 'string', contentEncoding: 'base64' },
  'google.protobuf.Int32Value': { type: 'integer' },
  'google.protobuf.UInt32Value': { type: 'integer' },
  'google.protobuf.Int64Value': { type: 'string' },
  'google.protobuf.UInt64Value': { type: 'string' },
  'google.protobuf.FloatValue': { type: 'number' },
  'google.protobuf.DoubleValue': { type: 'number' },
};

function addSchema(codec: JsonCodec, typeName: string, schemas: Record<string, Schema>): void {
  if (schemas[typeName] !== undefined) return;
  const wellKnown = WELL_KNOWN[typeName];
  if (wellKnown !== undefined) {
    schemas[typeName] = wellKnown;
    return;
  }
  const message: DescMessage | undefined = codec.message(typeName);
  if (message === undefined) {
    schemas[typeName] = { type: 'object' };
    return;
  }
  const properties: Record<string, Schema> = {};
  schemas[typeName] = { type: 'object', properties }; // placed first, so recursive types end
  const ref = (name: string): Schema => {
    addSchema(codec, name, schemas);
    return { $ref: `#/components/schemas/${name}` };
  };
  for (const field of message.fields) properties[field.jsonName] = fieldSchema(field, ref);
}

function fieldSchema(field: DescField, ref: (typeName: string) => Schema): Schema {
  switch (field.fieldKind) {
    case 'scalar':
      return scalarSchema(field.scalar);
    case 'enum':
      return enumSchema(field.enum.values.map((v) => v.name));
    case 'message':
      return ref(field.message.typeName);
    case 'list':
      return {
        type: 'array',
        items:
          field.listKind === 'scalar' ? scalarSchema(field.scalar) : field.listKind === 'enum' ? enumSchema(field.enum.values.map((v) => v.name)) : ref(field.message.typeName),
      };
    case 'map':
      return {
        type: 'object',
        additionalProperties:
          field.mapKind === 'scalar' ? scalarSchema(field.scalar) : field.mapKind === 'enum' ? enumSchema(field.enum.values.map((v) => v.name)) : ref(field.message.typeName),
      };
  }
}

function enumSchema(names: string[]): Schema {
  return { oneOf: [{ type: 'string', enum: names }, { type: 'integer' }] };
}

function scalarSchema(scalar: ScalarType): Schema {
  switch (scalar) {
    case ScalarType.BOOL:
      return { type: 'boolean' };
    case ScalarType.STRING:
      return { type: 'string' };
    case ScalarType.BYTES:
      return { type: 'string', contentEncoding: 'base64' };
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return { oneOf: [{ type: 'number' }, { type: 'string', enum: ['NaN', 'Infinity', '-Infinity'] }] };
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return { type: 'string', pattern: '^-?[0-9]+$' };
    default:
      return { type: 'integer' };
  }
}
