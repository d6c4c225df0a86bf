/**
 * The routes of the declared methods: create the operation and answer in the method's style (see
 * AnswerStyle), or as `Prefer` asks (`respond-async`, `wait=N`).
 */
import { answerStyleOf } from '../domain/operation.js';
import { operationJson } from '../protos/operation-json.js';
import { IDEMPOTENCY_KEY_HEADER, progressHeaders } from '../protocol/headers.js';
import { asyncAnswerHeaders, linkHeaders } from './async-answer.js';
import { sendJson } from './answer.js';
import { baseUrl } from './incoming.js';
import { parsePrefer } from './prefer.js';
import type { RouteCall, RouteParts } from './route-call.js';

export { IDEMPOTENCY_KEY_HEADER };
/** Where the operation's end is POSTed (completion callbacks), spelled as HTTP clients send it: errors name it so. */
export const CALLBACK_URL_HEADER = 'Longrun-Callback-Url';

/** Answers the call; returns the name of the operation created (or found by its idempotency key). */
export async function answerCreate(parts: RouteParts, call: RouteCall): Promise<string> {
  const { service } = parts;
  const { route, caller, res } = call;
  const prefer = parsePrefer(call.req.headers['prefer']);
  let record = await service.create(route.rpc, call.parsed, caller, {
    ...call.context.createOptions(CALLBACK_URL_HEADER),
    ...(prefer.respondAsync && { answerStyle: 'async' as const }),
  });
  const applied: string[] = [];
  if (prefer.waitSeconds !== undefined && !record.done) {
    // One round trip for quick work; WaitOperation's cap and per-principal limit apply.
    const client = new AbortController();
    res.once('close', () => client.abort());
    record = await service.wait(record.name, prefer.waitSeconds * 1000, client.signal, caller);
    applied.push(`wait=${prefer.waitSeconds}`);
  }
  // Done within the asked wait: the result itself, as a GET would answer it. (A replayed key
  // without one is answered as its first call was.)
  const finished = record.done && prefer.waitSeconds !== undefined;
  const style = finished ? 'google' : prefer.respondAsync ? 'async' : answerStyleOf(record);
  if (style === 'async' && prefer.respondAsync) applied.unshift('respond-async');
  const base = baseUrl(call.req);
  const headers =
    style === 'async'
      ? asyncAnswerHeaders(base, record, parts.clock.now(), parts.retryAfterCapMs)
      : { ...linkHeaders(base, record), ...progressHeaders(record) };
  sendJson(res, style === 'google' ? 200 : 202, operationJson(parts.codec, record, { enumAsInteger: call.enumAsInteger }), {
    ...headers,
    ...(applied.length > 0 && { 'preference-applied': applied.join(', ') }),
  });
  return record.name;
}
