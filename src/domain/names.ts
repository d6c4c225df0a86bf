/**
 * Operation resource names (AIP-122, AIP-151): `operations/{id}` or `{parent}/operations/{id}`,
 * where the parent is a path of `collection/id` segments such as `projects/p/locations/l`.
 */
import { invalidArgument } from './errors.js';

export const MAX_NAME_LENGTH = 1024;
const COLLECTION = 'operations';
/** AIP-122 segment characters; '.' alone or '..' are rejected separately. */
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._~-]*$/;
/** Ids longrun issues are 27 base64url characters (domain/owned-ids.ts); any id-shaped segment parses. */
const ID = /^[A-Za-z0-9_-]{1,128}$/;

export interface OperationName {
  parent: string;
  id: string;
}

export function formatOperationName(parent: string, id: string): string {
  return parent === '' ? `${COLLECTION}/${id}` : `${parent}/${COLLECTION}/${id}`;
}

/** Parses the `name` of Get/Wait/Cancel/Delete; INVALID_ARGUMENT naming `field` if malformed. */
export function parseOperationName(name: string, field = 'name'): OperationName {
  if (name === '') throw invalidArgument(field, 'is required');
  checkLength(name, field);
  const segments = name.split('/');
  const id = segments.pop()!;
  if (segments.pop() !== COLLECTION || !ID.test(id)) {
    throw invalidArgument(field, `must look like "operations/{id}" or "{parent}/operations/{id}", got "${printable(name)}"`);
  }
  const parent = segments.join('/');
  // A leading "/" leaves an empty parent segment: "/operations/x" is not another spelling of "operations/x".
  if (parent === '' && segments.length > 0) {
    throw invalidArgument(field, `must look like "operations/{id}" or "{parent}/operations/{id}", got "${printable(name)}"`);
  }
  checkParent(parent, field);
  return { parent, id };
}

/**
 * Parses ListOperations `name`, the collection to list: '' or `operations` for top-level
 * operations, `{parent}` or `{parent}/operations` for operations created under a parent.
 */
export function parseCollection(name: string, field = 'name'): string {
  checkLength(name, field);
  if (name === '' || name === COLLECTION) return '';
  const parent = name.endsWith(`/${COLLECTION}`) ? name.slice(0, -COLLECTION.length - 1) : name;
  checkParent(parent, field);
  return parent;
}

/** Validates a parent given by a creating request (e.g. `projects/p/locations/l`). */
export function checkParent(parent: string, field = 'parent'): string {
  if (parent === '') return parent;
  checkLength(parent, field);
  const segments = parent.split('/');
  if (segments.length % 2 !== 0 || !segments.every((s) => SEGMENT.test(s) && s !== '..')) {
    throw invalidArgument(
      field,
      `must be a resource name of collection/id pairs such as "projects/p/locations/l", got "${printable(parent)}"`,
    );
  }
  return parent;
}

function checkLength(value: string, field: string): void {
  if (value.length > MAX_NAME_LENGTH) {
    throw invalidArgument(field, `is ${value.length} characters long; the limit is ${MAX_NAME_LENGTH} (MAX_NAME_LENGTH)`);
  }
}

/** Echo user input safely inside a message: no control characters, bounded length. */
export function printable(value: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const clean = value.replace(/[\u0000-\u001f\u007f]/g, '\uFFFD');
  if (clean.length <= max) return clean;
  // Never cut a surrogate pair in two: a lone surrogate is not valid text.
  const end = /[\uD800-\uDBFF]/.test(clean[max - 1]!) ? max - 1 : max;
  return `${clean.slice(0, end)}…`;
}
