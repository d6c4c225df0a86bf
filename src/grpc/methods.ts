/**
 * The app's declared long-running methods over gRPC. Calling one creates an operation and replies
 * with it at once; methods of the same service that were not declared answer UNIMPLEMENTED.
 */
import type { ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { Code, LongrunError } from '../domain/errors.js';
import type { MethodTable } from '../methods/table.js';
import type { Caller, OperationsService } from '../operations/service.js';
import type { ParsedMessage } from '../protos/registry.js';
import { CALLBACK_URL_HEADER } from '../protocol/headers.js';
import { toOperationMessage } from './convert.js';
import { callContextOf } from './interceptor.js';
import { type HandlerDeps, unary } from './unary.js';


export interface MethodHandlerDeps extends HandlerDeps {
  service: OperationsService;
  methods: MethodTable;
  callerOf(call: ServerUnaryCall<unknown, unknown>): Caller;
}

export function serviceImplementation(
  deps: MethodHandlerDeps,
  serviceName: string,
  methodNames: readonly string[],
  extra: UntypedServiceImplementation = {},
): UntypedServiceImplementation {
  const implementation: UntypedServiceImplementation = {};
  for (const methodName of methodNames) {
    const path = `/${serviceName}/${methodName}`;
    const declared = deps.methods.get(path);
    implementation[methodName] =
      extra[methodName] ??
      unary<Record<string, unknown> | ParsedMessage, unknown>(deps, path, async (call) => {
        const caller = deps.callerOf(call); // authenticate before saying anything about the method
        if (declared === undefined) {
          throw new LongrunError(Code.UNIMPLEMENTED, `${path} is not implemented by this server`, 'METHOD_NOT_IMPLEMENTED');
        }
        const record = await deps.service.create(path, call.request, caller, callContextOf(call).createOptions(CALLBACK_URL_HEADER));
        return toOperationMessage(record);
      }, (_request, reply) => (reply as { name?: string } | undefined)?.name);
  }
  return implementation;
}
