/**
 * Message types known to this process (longrun's protos plus an embedding app's), and the one place
 * that turns messages into bytes and `Any`s and back.
 *
 * Values may be plain objects in proto-loader's shape (see LOADER_OPTIONS) or protoc-generated
 * `google-protobuf` messages (as grpc-tools users have); both encode to the same bytes.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join } from 'node:path';
import jspb from 'google-protobuf';
import protobuf from 'protobufjs';
import type { FileRegistry } from '@bufbuild/protobuf';
import { Code, invalidArgument, LongrunError } from '../domain/errors.js';
import type { AnyMessage } from '../domain/operation.js';
import { LOADER_OPTIONS, PROTO_DIR } from './paths.js';
import { encodeStrict, FieldProblem } from './strict.js';

export const TYPE_URL_PREFIX = 'type.googleapis.com/';

/** A protoc-generated message class instance (google-protobuf), or anything shaped like one. */
export interface GeneratedMessage {
  serializeBinary(): Uint8Array;
}

/** A protoc-generated message class: what an app passes to get its request as that class. */
export interface GeneratedMessageClass<T> {
  deserializeBinary(bytes: Uint8Array): T;
}

export type MessageValue = Record<string, unknown> | GeneratedMessage;

export interface LongRunningMethodInfo {
  /** `/package.Service/Method` */
  path: string;
  service: string;
  method: string;
  requestType: string;
  /** From `google.longrunning.operation_info`, if the method declares it. */
  responseType?: string;
  metadataType?: string;
  /** Whether the output type is google.longrunning.Operation. */
  returnsOperation: boolean;
}

const protobufjsDir = dirname(createRequire(import.meta.url).resolve('protobufjs/package.json'));

/** Well-known types are always known: methods often answer with Empty, Struct or a wrapper. */
const WELL_KNOWN_TYPES = ['any', 'duration', 'empty', 'field_mask', 'struct', 'timestamp', 'wrappers'].map(
  (name) => `google/protobuf/${name}.proto`,
);

/** Which part of an operation a message is: says who is at fault when it does not fit its type. */
export type MessagePart = 'request' | 'metadata' | 'response';

export interface TypeRegistryOptions {
  /**
   * The same types as @bufbuild/protobuf descriptors, for `packChecked` (made on first use: describing
   * an app's protos takes a moment). Without it `packChecked` cannot be used.
   */
  descriptors?: () => FileRegistry;
}

export class TypeRegistry {
  /** Every loaded type, service and option. */
  readonly root: protobuf.Root;
  private readonly types = new Map<string, protobuf.Type>();
  private readonly descriptors: (() => FileRegistry) | undefined;

  /** `files` relative to one of `includeDirs` (longrun's own proto/ is always included). */
  constructor(files: readonly string[], includeDirs: readonly string[] = [], options: TypeRegistryOptions = {}) {
    this.descriptors = options.descriptors;
    const dirs = [...includeDirs, PROTO_DIR, protobufjsDir];
    this.root = new protobuf.Root();
    const fallback = this.root.resolvePath.bind(this.root);
    this.root.resolvePath = (origin, target) => {
      if (isAbsolute(target)) return target;
      for (const dir of dirs) {
        const candidate = join(dir, target);
        try {
          accessSync(candidate, constants.R_OK);
          return candidate;
        } catch {
          // not in this include dir
        }
      }
      return fallback(origin, target);
    };
    this.root.loadSync([...WELL_KNOWN_TYPES, ...files], { keepCase: LOADER_OPTIONS.keepCase });
    this.root.resolveAll();
  }

  has(typeName: string): boolean {
    return this.find(typeName) !== undefined;
  }

  type(typeName: string): protobuf.Type {
    const type = this.find(typeName);
    if (type === undefined) throw new Error(`message type ${typeName} is not in the loaded protos`);
    return type;
  }

  encode(typeName: string, value: MessageValue): Uint8Array {
    if (isGeneratedMessage(value)) return value.serializeBinary();
    const type = this.type(typeName);
    // fromObject accepts proto-loader's shapes (enum names, longs as strings, Buffers for bytes).
    return type.encode(type.fromObject(value)).finish();
  }

  decode<T = Record<string, unknown>>(typeName: string, bytes: Uint8Array): T {
    const type = this.type(typeName);
    return type.toObject(type.decode(bytes), LOADER_OPTIONS) as T;
  }

  pack(typeName: string, value: MessageValue): AnyMessage {
    return { typeUrl: TYPE_URL_PREFIX + typeName, value: this.encode(typeName, value) };
  }

  /**
   * Like `pack`, but a plain object is checked against the type as strictly as the wire checks
   * JSON (src/protos/strict.ts): a field the type does not have or a value of the wrong type is
   * refused, naming the field path, instead of being dropped or coerced. A request that does not
   * fit is the caller's mistake (INVALID_ARGUMENT); metadata or a response that does not fit is
   * the handler's (INTERNAL, INVALID_METADATA / INVALID_RESPONSE), and fails the operation.
   * Generated (google-protobuf) messages encode themselves, as in `pack`.
   */
  packChecked(typeName: string, value: MessageValue, part: MessagePart): AnyMessage {
    if (isGeneratedMessage(value)) return this.pack(typeName, value);
    if (this.descriptors === undefined) throw new Error('this TypeRegistry was made without descriptors; packChecked needs them');
    const schema = this.descriptors().getMessage(typeName);
    if (schema === undefined) throw new Error(`message type ${typeName} is not in the descriptor sets`);
    try {
      return { typeUrl: TYPE_URL_PREFIX + typeName, value: encodeStrict(schema, value, part === 'request' ? '' : part) };
    } catch (error) {
      if (!(error instanceof FieldProblem)) throw error;
      const field = error.path === '' ? part : error.path;
      if (part === 'request') throw invalidArgument(field, error.rule);
      throw new LongrunError(
        Code.INTERNAL,
        `${field}: ${error.rule} (the handler's ${part} does not fit ${typeName})`,
        part === 'metadata' ? 'INVALID_METADATA' : 'INVALID_RESPONSE',
        { metadata: { field } },
      );
    }
  }

  /** Decodes an `Any` whose type this registry knows. */
  unpack<T = Record<string, unknown>>(any: AnyMessage): T {
    return this.decode<T>(typeNameOf(any.typeUrl), any.value);
  }

  /** Stable hash of a request, to recognize a retried creation. */
  fingerprint(any: AnyMessage): string {
    return createHash('sha256').update(any.typeUrl).update('\0').update(any.value).digest('base64url');
  }

  /** Looks up `/package.Service/Method` (or `package.Service.Method`). */
  method(path: string): LongRunningMethodInfo {
    const match = /^\/?([\w.]+)[/.](\w+)$/.exec(path);
    const service = match && this.root.lookup(match[1]!);
    if (!match || !(service instanceof protobuf.Service)) {
      throw new Error(`${path} does not name a method of a loaded service`);
    }
    const method = service.methods[match[2]!];
    if (method === undefined) throw new Error(`${path}: service ${match[1]} has no method ${match[2]}`);
    method.resolve();
    const info = operationInfo(method);
    const resolveName = (name: string | undefined) =>
      name === undefined || name === '' ? undefined : qualifiedName(service.lookupType(name));
    const responseType = resolveName(info.responseType);
    const metadataType = resolveName(info.metadataType);
    return {
      path: `/${match[1]}/${match[2]}`,
      service: match[1]!,
      method: match[2]!,
      requestType: qualifiedName(method.resolvedRequestType!),
      ...(responseType && { responseType }),
      ...(metadataType && { metadataType }),
      returnsOperation: qualifiedName(method.resolvedResponseType!) === 'google.longrunning.Operation',
    };
  }

  /** Method names of a service, in declaration order. */
  methodsOf(service: string): string[] {
    const found = this.root.lookup(service);
    if (!(found instanceof protobuf.Service)) throw new Error(`${service} is not a loaded service`);
    return found.methodsArray.map((m) => m.name);
  }

  private find(typeName: string): protobuf.Type | undefined {
    let type = this.types.get(typeName);
    if (type === undefined) {
      const found = this.root.lookup(typeName);
      if (!(found instanceof protobuf.Type)) return undefined;
      type = found;
      this.types.set(typeName, type);
    }
    return type;
  }
}

export function typeNameOf(typeUrl: string): string {
  const slash = typeUrl.lastIndexOf('/');
  return slash < 0 ? typeUrl : typeUrl.slice(slash + 1);
}

export function isGeneratedMessage(value: unknown): value is GeneratedMessage {
  return (
    value instanceof jspb.Message ||
    (typeof value === 'object' && value !== null && typeof (value as GeneratedMessage).serializeBinary === 'function')
  );
}

/** Decodes a request into an app's protoc-generated class. */
export function asGeneratedMessage<T>(bytes: Uint8Array, cls: GeneratedMessageClass<T>): T {
  try {
    return cls.deserializeBinary(bytes);
  } catch (cause) {
    throw invalidArgument('request', `cannot be decoded as the declared message class: ${String(cause)}`);
  }
}

function qualifiedName(type: protobuf.Type): string {
  return type.fullName.replace(/^\./, '');
}

function operationInfo(method: protobuf.Method): { responseType?: string; metadataType?: string } {
  // protobufjs keeps custom options either flattened or as parsedOptions depending on syntax.
  const options = (method.options ?? {}) as Record<string, unknown>;
  const flattened = {
    responseType: options['(google.longrunning.operation_info).response_type'] as string | undefined,
    metadataType: options['(google.longrunning.operation_info).metadata_type'] as string | undefined,
  };
  if (flattened.responseType !== undefined || flattened.metadataType !== undefined) return flattened;
  for (const parsed of (method.parsedOptions ?? []) as Record<string, unknown>[]) {
    const info = parsed['(google.longrunning.operation_info)'] as Record<string, string> | undefined;
    if (info !== undefined) {
      return {
        responseType: info['response_type'] ?? info['responseType'],
        metadataType: info['metadata_type'] ?? info['metadataType'],
      };
    }
  }
  return {};
}
