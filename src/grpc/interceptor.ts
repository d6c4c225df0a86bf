/**
 * gRPC's per-call work in one server interceptor: each call gets a CallContext (its headers read
 * from the metadata, its deadline, its arrival time) before any handler runs, and its record (log
 * line and metrics) is written when its status is sent. Handlers only say what they learn: who
 * the caller is and which operation the call was about.
 *
 * `createServer()` installs it. On a grpc-js Server made without it, a handler's context is made
 * on first use and the handler's end records the call, so an embedding app's own server loses
 * nothing.
 */
import { ServerInterceptingCall, ServerListenerBuilder, type Deadline, type Metadata, type ServerInterceptor } from '@grpc/grpc-js';
import { CallContext } from '../protocol/call.js';

interface Entry {
  context: CallContext;
  /** Whether the interceptor records the call (else its handler does). */
  intercepted: boolean;
  /** The client went away: no status reaches it, and the handler records CANCELLED when it stops. */
  cancelled: boolean;
}

/** Keyed by the call's metadata: the one object both the interceptor and the handler see. */
const contexts = new WeakMap<Metadata, Entry>();

export const callInterceptor: ServerInterceptor = (descriptor, call) => {
  let entry: Entry | undefined;
  return new ServerInterceptingCall(call, {
    start: (next) =>
      next(
        new ServerListenerBuilder()
          .withOnReceiveMetadata((metadata, passOn) => {
            entry = { context: contextOf(descriptor.path, metadata, call.getDeadline()), intercepted: true, cancelled: false };
            contexts.set(metadata, entry);
            passOn(metadata);
          })
          .withOnCancel(() => {
            if (entry !== undefined) entry.cancelled = true;
          })
          .build(),
      ),
    sendStatus: (status, passOn) => {
      // Only calls a longrun handler observed are recorded (not reflection, health or the app's own).
      if (entry !== undefined && !entry.cancelled) entry.context.end(status.code);
      passOn(status);
    },
  });
};

interface HandlerCall {
  metadata: Metadata;
  getPath(): string;
  getDeadline(): Deadline;
}

/** The call's context: the interceptor's, or one made now on a server without it. */
export function callContextOf(call: HandlerCall): CallContext {
  return entryOf(call).context;
}

/**
 * A handler is done with the call (`code`: the status it sent, or CANCELLED). Recorded here only
 * where the interceptor cannot: on a server without it, or when the client left before a status.
 */
export function handlerEnded(call: HandlerCall & { cancelled: boolean }, code: number): void {
  const entry = entryOf(call);
  if (!entry.intercepted || entry.cancelled || call.cancelled) entry.context.end(code);
}

function entryOf(call: HandlerCall): Entry {
  let entry = contexts.get(call.metadata);
  if (entry === undefined) {
    entry = { context: contextOf(call.getPath(), call.metadata, call.getDeadline()), intercepted: false, cancelled: false };
    contexts.set(call.metadata, entry);
  }
  return entry;
}

function contextOf(path: string, metadata: Metadata, deadline: Deadline): CallContext {
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  return new CallContext(
    path,
    (name) => {
      const values = metadata.get(name);
      return values.length === 0 ? undefined : String(values[0]);
    },
    Number.isFinite(deadlineMs) ? deadlineMs : undefined,
  );
}
