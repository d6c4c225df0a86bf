import assert from 'node:assert/strict';
import type { ServiceError } from '@grpc/grpc-js';
import { BUNDLED_PROTO_FILES } from '../../src/index.js';
import { TypeRegistry } from '../../src/protos/registry.js';

const registry = new TypeRegistry(BUNDLED_PROTO_FILES);

interface ErrorInfo {
  reason: string;
  domain: string;
  metadata: Record<string, string>;
}

/** The google.rpc.ErrorInfo carried in grpc-status-details-bin (AIP-193). */
export function errorInfoOf(error: ServiceError): ErrorInfo {
  const [bytes] = error.metadata.get('grpc-status-details-bin');
  assert.ok(bytes instanceof Buffer, 'the status carries grpc-status-details-bin');
  const status = registry.decode<{ code: number; message: string; details: { type_url: string; value: Buffer }[] }>('google.rpc.Status', bytes);
  assert.equal(status.code, error.code, 'details agree with the status code');
  const info = status.details.find((d) => d.type_url === 'type.googleapis.com/google.rpc.ErrorInfo');
  assert.ok(info, 'an ErrorInfo detail is present');
  return registry.decode<ErrorInfo>('google.rpc.ErrorInfo', info.value);
}

/** Asserts that `promise` fails with gRPC `code` and returns the error for more checks. */
export async function rejectsWith(promise: Promise<unknown>, code: number, message?: RegExp): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    const status = error as ServiceError;
    assert.equal(status.code, code, `expected code ${code}, got ${status.code}: ${status.details}`);
    if (message) assert.match(status.details, message);
    errorInfoOf(status);
    return status;
  }
  assert.fail(`expected the call to fail with code ${code}`);
}
