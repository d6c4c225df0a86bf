/**
 * Builds a method's request as proto3 JSON from the three places HTTP carries it (google.api.http):
 * the path's variables, the body (`body: "*"` the whole message, `body: "field"` one field), and
 * query parameters for the fields left (by proto name or JSON name, `a.b` for nested fields,
 * repeated fields by repeating the parameter). The JSON then goes through the conformant codec, so
 * every type rule (and an unknown field's name) is checked in one place.
 */
import { ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { invalidArgument } from '../domain/errors.js';
import type { JsonValue } from '../protos/json.js';

type JsonObject = { [key: string]: JsonValue };

/**
 * Query parameters every Google API accepts, with or without a `$` (system parameters): they say
 * how to answer, not what to do, and never reach the request message.
 */
const SYSTEM_PARAMETERS = new Set(['alt', 'fields', 'key', 'prettyPrint', 'quotaUser', 'callback', 'access_token', 'upload_protocol', 'uploadType', 'userIp', 'oauth_token', 'pp', 'xgafv', '$.xgafv']);

export function isSystemParameter(name: string): boolean {
  return name.startsWith('$') || SYSTEM_PARAMETERS.has(name);
}

export interface RequestParts {
  /** Field path (proto names) to the decoded path segment(s). */
  pathBindings: ReadonlyMap<string, string>;
  query: URLSearchParams;
  /** The parsed body, or undefined when there was none. */
  body: JsonValue | undefined;
  /** The route's `body` ('' none, '*' all, else a field name). */
  bodyField: string;
}

export function requestJson(message: DescMessage, parts: RequestParts): JsonObject {
  let json: JsonObject = {};
  if (parts.bodyField === '*') {
    if (parts.body !== undefined) {
      if (typeof parts.body !== 'object' || parts.body === null || Array.isArray(parts.body)) {
        throw invalidArgument('body', `must be a JSON object (a ${message.typeName} in proto3 JSON)`);
      }
      json = { ...parts.body };
    }
  } else if (parts.bodyField !== '' && parts.body !== undefined) {
    const field = resolvePath(message, parts.bodyField, 'body');
    setValue(json, field, parts.body);
  }
  for (const [name, values] of groupQuery(parts.query)) {
    if (isSystemParameter(name)) continue;
    if (parts.bodyField === '*') {
      throw invalidArgument(name, 'is not a parameter here: this route takes the whole request in its body');
    }
    const field = resolvePath(message, name, name);
    const last = field.at(-1)!;
    const converted = values.map((value) => queryValue(last, value, name));
    setValue(json, field, last.fieldKind === 'list' ? converted : converted.at(-1)!);
  }
  // The path decides: a body or query value for a bound field is overwritten.
  for (const [path, value] of parts.pathBindings) {
    const field = resolvePath(message, path, path);
    setValue(json, field, queryValue(field.at(-1)!, value, path));
  }
  return json;
}

function groupQuery(query: URLSearchParams): Map<string, string[]> {
  const grouped = new Map<string, string[]>();
  for (const [name, value] of query) {
    const values = grouped.get(name);
    if (values === undefined) grouped.set(name, [value]);
    else values.push(value);
  }
  return grouped;
}

/** The fields along `a.b.c`, each by proto name or JSON name; INVALID_ARGUMENT naming `param` otherwise. */
function resolvePath(message: DescMessage, path: string, param: string): DescField[] {
  const fields: DescField[] = [];
  let current: DescMessage | undefined = message;
  for (const part of path.split('.')) {
    const field: DescField | undefined = current?.fields.find((f) => f.name === part || f.jsonName === part);
    if (field === undefined || current === undefined) {
      throw invalidArgument(param, `${message.typeName} has no field ${path}`);
    }
    fields.push(field);
    current = field.fieldKind === 'message' ? field.message : undefined;
  }
  return fields;
}

function setValue(json: JsonObject, fields: readonly DescField[], value: JsonValue): void {
  let target = json;
  for (const field of fields.slice(0, -1)) {
    const next = target[field.jsonName];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) target[field.jsonName] = {};
    target = target[field.jsonName] as JsonObject;
  }
  target[fields.at(-1)!.jsonName] = value;
}

/**
 * A query or path string as the JSON value the codec expects for the field: proto3 JSON accepts
 * numbers as strings, but booleans and enum numbers must be JSON literals. Messages take their
 * string JSON forms (Duration `5s`, Timestamp, FieldMask).
 */
function queryValue(field: DescField, raw: string, param: string): JsonValue {
  const kind = field.fieldKind === 'list' ? field.listKind : field.fieldKind;
  if (kind === 'scalar') {
    const scalar = field.scalar!;
    if (scalar === ScalarType.BOOL) {
      if (raw === 'true' || raw === 'false') return raw === 'true';
      throw invalidArgument(param, `must be true or false, got "${raw.slice(0, 100)}"`);
    }
    return raw;
  }
  if (kind === 'enum') return /^-?\d+$/.test(raw) ? Number(raw) : raw;
  if (kind === 'message') return raw;
  throw invalidArgument(param, 'map fields cannot be set from a query parameter or the path');
}
