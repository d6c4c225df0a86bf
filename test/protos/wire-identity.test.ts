/**
 * Our proto/google/** files against Google's published ones (google-proto-files): every message,
 * field, enum, method, HTTP rule and operation_info must match, so clients built for Google's
 * APIs see exactly the same wire contract.
 */
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { Code } from '../../src/domain/errors.js';
import { PROTO_DIR } from '../../src/protos/paths.js';

const googleDir = dirname(createRequire(import.meta.url).resolve('google-proto-files/package.json'));
const protobufjsDir = dirname(createRequire(import.meta.url).resolve('protobufjs/package.json'));

function load(dir: string, file: string): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const base of [dir, protobufjsDir]) {
      const candidate = join(base, target);
      try {
        if (statSync(candidate).isFile()) return candidate;
      } catch {
        // try the next folder
      }
    }
    return target;
  };
  root.loadSync(file, { keepCase: true, alternateCommentMode: false });
  root.resolveAll();
  return root;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

/** A comparable description of everything that affects the wire or generated clients. */
function describeFile(root: protobuf.Root, file: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (object: protobuf.ReflectionObject) => {
    if (object.filename !== null && !object.filename.endsWith(file)) {
      if (!(object instanceof protobuf.Namespace) || object instanceof protobuf.Type || object instanceof protobuf.Service) return;
    }
    if (object instanceof protobuf.Type && object.filename?.endsWith(file)) {
      out.set(`message ${object.fullName}`, '');
      for (const field of object.fieldsArray) {
        const map = field instanceof protobuf.MapField ? `map<${field.keyType},` : '';
        out.set(
          `field ${field.fullName}`,
          `${field.id} ${map}${field.resolvedType ? field.resolvedType.fullName : field.type} ${field.repeated ? 'repeated' : field.optional ? 'optional' : 'required'} ${field.partOf?.name ?? ''}`,
        );
      }
    }
    if (object instanceof protobuf.Enum && object.filename?.endsWith(file)) {
      out.set(`enum ${object.fullName}`, JSON.stringify(Object.entries(object.values).sort()));
    }
    if (object instanceof protobuf.Service && object.filename?.endsWith(file)) {
      for (const method of object.methodsArray) {
        method.resolve();
        const options = (method.parsedOptions ?? []) as Record<string, unknown>[];
        const http = options.find((o) => '(google.api.http)' in o)?.['(google.api.http)'];
        const info = options.find((o) => '(google.longrunning.operation_info)' in o)?.['(google.longrunning.operation_info)'];
        out.set(
          `method ${method.fullName}`,
          JSON.stringify([
            method.resolvedRequestType?.fullName,
            method.resolvedResponseType?.fullName,
            !!method.requestStream,
            !!method.responseStream,
            http ?? null,
            info ?? null,
          ]),
        );
      }
    }
    if (object instanceof protobuf.Field && object.extend !== undefined && object.filename?.endsWith(file)) {
      out.set(`extension ${object.fullName}`, `${object.id} ${object.extend} ${object.type} ${object.repeated}`);
    }
    if (object instanceof protobuf.Namespace) for (const nested of object.nestedArray) visit(nested);
  };
  visit(root);
  return out;
}

const ourFiles = walk(join(PROTO_DIR, 'google'))
  .filter((path) => path.endsWith('.proto'))
  .map((path) => relative(PROTO_DIR, path))
  .sort();

describe('wire identity with Google\'s published protos', () => {
  it('covers the files the issue names', () => {
    for (const file of [
      'google/longrunning/operations.proto',
      'google/rpc/status.proto',
      'google/rpc/code.proto',
      'google/rpc/error_details.proto',
      'google/api/annotations.proto',
      'google/api/http.proto',
      'google/api/client.proto',
      'google/api/field_behavior.proto',
    ]) {
      assert.ok(ourFiles.includes(file), `${file} exists`);
    }
  });

  for (const file of ourFiles) {
    it(`${file} matches element for element`, () => {
      const ours = describeFile(load(PROTO_DIR, file), file);
      const theirs = describeFile(load(googleDir, file), file);
      assert.ok(theirs.size > 0, `Google's ${file} describes something`);
      const missing = [...theirs.keys()].filter((key) => !ours.has(key));
      const extra = [...ours.keys()].filter((key) => !theirs.has(key));
      assert.deepEqual(missing, [], `${file}: elements of Google's file missing from ours`);
      assert.deepEqual(extra, [], `${file}: elements of ours not in Google's file`);
      for (const [key, value] of theirs) assert.equal(ours.get(key), value, `${file}: ${key} differs`);
    });
  }

  it('has the fields the current operations.proto added', () => {
    const root = load(PROTO_DIR, 'google/longrunning/operations.proto');
    assert.equal(root.lookupType('google.longrunning.ListOperationsRequest').fields['return_partial_success']?.id, 5);
    assert.equal(root.lookupType('google.longrunning.ListOperationsResponse').fields['unreachable']?.id, 3);
  });

  it('numbers Code in src/domain/errors.ts exactly as google.rpc.Code', () => {
    const codes = load(PROTO_DIR, 'google/rpc/code.proto').lookupEnum('google.rpc.Code').values;
    assert.deepEqual(Object.entries(Code).sort(), Object.entries(codes).sort());
  });
});
