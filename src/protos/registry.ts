/**
 * Message types known to this process (longrun's protos plus an embedding app's, one Schema), and
 * the one place that turns messages into bytes and `Any`s and back, by @bufbuild/protobuf.
 *
 * Values may be plain objects in proto-loader's shape (see LOADER_OPTIONS, src/protos/loader-shape.ts)
 * or protoc-generated `google-protobuf` messages (as grpc-tools users have); both encode to the same
 * bytes. google-protobuf itself is only used to recognize such a message (`isGeneratedMessage`): each
 * one encodes and decodes itself (see docs/schema.md).
 */
import { createHash } from 'node:crypto';
import jspb from 'google-protobuf';
import { fromBinary, getExtension, hasExtension, toBinary, type DescExtension, type DescMessage, type DescService, type Message } from '@bufbuild/protobuf';
import { Code, invalidArgument, LongrunError } from '../domain/errors.js';
import type { AnyMessage } from '../domain/operation.js';
import { canonicalBytes } from './fingerprint.js';
import { toLoaderObject } from './loader-shape.js';
import { Schema } from './schema.js';
import { checkedMessage, FieldProblem } from './strict.js';

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

/** Which part of an operation a message is: says who is at fault when it does not fit its type. */
export type MessagePart = 'request' | 'metadata' | 'response';

/**
 * A message parsed once (from JSON, bytes, a plain object or a generated class), to be encoded once
 * for the store and turned once into the object a handler sees.
 */
export class ParsedMessage {
  private object: Record<string, unknown> | undefined;

  constructor(
    readonly schema: DescMessage,
    readonly message: Message,
  ) {}

  get typeName(): string {
    return this.schema.typeName;
  }

  /** In the loader shape (made on first use, then kept). */
  toObject(): Record<string, unknown> {
    const object = this.object ?? toLoaderObject<Record<string, unknown>>(this.schema, this.message);
    this.object = object;
    return object;
  }

  toAny(): AnyMessage {
    return { typeUrl: TYPE_URL_PREFIX + this.schema.typeName, value: toBinary(this.schema, this.message) };
  }
}

export class TypeRegistry {
  readonly schema: Schema;
  private readonly operationInfo: DescExtension | undefined;

  /** A schema, or .proto files relative to one of `includeDirs` (longrun's own proto/ is always included). */
  constructor(source: Schema | readonly string[], includeDirs: readonly string[] = []) {
    this.schema = source instanceof Schema ? source : Schema.load(source, includeDirs);
    this.operationInfo = this.schema.registry.getExtension('google.longrunning.operation_info');
  }

  has(typeName: string): boolean {
    return this.schema.registry.getMessage(typeName) !== undefined;
  }

  /** The descriptor of a message type; throws if no file of the schema declares it. */
  message(typeName: string): DescMessage {
    const schema = this.schema.registry.getMessage(typeName);
    if (schema === undefined) throw new Error(`message type ${typeName} is not in the loaded protos`);
    return schema;
  }

  /**
   * The wire bytes of a value our own code builds (error details, statuses). A value that does not
   * fit its type is a bug here, so it throws a plain Error naming the field.
   */
  encode(typeName: string, value: MessageValue): Uint8Array {
    if (isGeneratedMessage(value)) return value.serializeBinary();
    const schema = this.message(typeName);
    try {
      return toBinary(schema, checkedMessage(schema, value, ''));
    } catch (error) {
      if (error instanceof FieldProblem) throw new Error(`${typeName}: ${error.message}`);
      throw error;
    }
  }

  /** The loader-shape object of a message's bytes. */
  decode<T = Record<string, unknown>>(typeName: string, bytes: Uint8Array): T {
    const schema = this.message(typeName);
    return toLoaderObject<T>(schema, fromBinary(schema, bytes));
  }

  pack(typeName: string, value: MessageValue): AnyMessage {
    return { typeUrl: TYPE_URL_PREFIX + typeName, value: this.encode(typeName, value) };
  }

  /**
   * A value checked against its type as strictly as the wire checks JSON (src/protos/strict.ts): a
   * field the type does not have or a value of the wrong type is refused, naming the field path,
   * instead of being dropped or coerced. A request that does not fit is the caller's mistake
   * (INVALID_ARGUMENT); metadata or a response that does not fit is the handler's (INTERNAL,
   * INVALID_METADATA / INVALID_RESPONSE), and fails the operation. Generated (google-protobuf)
   * messages encode themselves; an already parsed message of the type is taken as it is.
   */
  parse(typeName: string, value: MessageValue | ParsedMessage, part: MessagePart): ParsedMessage {
    if (value instanceof ParsedMessage && value.typeName === typeName) return value;
    const schema = this.message(typeName);
    if (isGeneratedMessage(value)) return new ParsedMessage(schema, fromBinary(schema, value.serializeBinary()));
    try {
      return new ParsedMessage(schema, checkedMessage(schema, value instanceof ParsedMessage ? value.toObject() : value, part === 'request' ? '' : part));
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

  /**
   * A message's wire bytes, parsed (fields the type does not have are dropped, as grpc-js's
   * decoding always did). Throws on bytes that are not a valid message.
   */
  parseBytes(typeName: string, bytes: Uint8Array): ParsedMessage {
    const schema = this.message(typeName);
    return new ParsedMessage(schema, fromBinary(schema, bytes, { readUnknownFields: false }));
  }

  /** `parse`, as an `Any`. */
  packChecked(typeName: string, value: MessageValue, part: MessagePart): AnyMessage {
    if (isGeneratedMessage(value)) return this.pack(typeName, value);
    return this.parse(typeName, value, part).toAny();
  }

  /** Decodes an `Any` whose type this registry knows. */
  unpack<T = Record<string, unknown>>(any: AnyMessage): T {
    return this.decode<T>(typeNameOf(any.typeUrl), any.value);
  }

  /**
   * Stable hash of a request, to recognize a retried creation: requests equal in meaning hash the
   * same (see src/protos/fingerprint.ts).
   */
  fingerprint(parsed: ParsedMessage): string {
    return createHash('sha256')
      .update(TYPE_URL_PREFIX + parsed.typeName)
      .update('\0')
      .update(canonicalBytes(parsed.schema, parsed.message))
      .digest('base64url');
  }

  /** Looks up `/package.Service/Method` (or `package.Service.Method`). */
  method(path: string): LongRunningMethodInfo {
    const match = /^\/?([\w.]+)[/.](\w+)$/.exec(path);
    const service = match ? this.schema.registry.getService(match[1]!) : undefined;
    if (!match || service === undefined) {
      throw new Error(`${path} does not name a method of a loaded service`);
    }
    const method = service.methods.find((m) => m.name === match[2]);
    if (method === undefined) throw new Error(`${path}: service ${match[1]} has no method ${match[2]}`);
    const info = this.operationInfoOf(method.proto.options);
    const resolveName = (name: string | undefined) => (name === undefined || name === '' ? undefined : this.resolveType(name, service));
    const responseType = resolveName(info.responseType);
    const metadataType = resolveName(info.metadataType);
    return {
      path: `/${match[1]}/${match[2]}`,
      service: match[1]!,
      method: match[2]!,
      requestType: method.input.typeName,
      ...(responseType && { responseType }),
      ...(metadataType && { metadataType }),
      returnsOperation: method.output.typeName === 'google.longrunning.Operation',
    };
  }

  /** Method names of a service, in declaration order. */
  methodsOf(service: string): string[] {
    const found = this.schema.registry.getService(service);
    if (found === undefined) throw new Error(`${service} is not a loaded service`);
    return found.methods.map((m) => m.name);
  }

  private operationInfoOf(options: Parameters<typeof hasExtension>[0] | undefined): { responseType?: string; metadataType?: string } {
    const extension = this.operationInfo;
    if (options === undefined || extension === undefined || !hasExtension(options, extension)) return {};
    const info = getExtension(options, extension) as { responseType?: string; metadataType?: string };
    return { responseType: info.responseType, metadataType: info.metadataType };
  }

  /**
   * A type name as written in an option, resolved as protoc resolves names: from the innermost
   * scope of the service outwards; a leading dot means fully qualified. Unresolved names are kept
   * as written (the method table then reports them unknown).
   */
  private resolveType(name: string, service: DescService): string {
    if (name.startsWith('.')) return name.slice(1);
    const scope = service.typeName.split('.').slice(0, -1);
    for (let i = scope.length; i >= 0; i--) {
      const candidate = [...scope.slice(0, i), name].join('.');
      if (this.has(candidate)) return candidate;
    }
    return name;
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
