/**
 * A long-running method's path together with its types, so that `Longrun.create` and
 * `Longrun.method` check the request, metadata and response at compile time:
 *
 *   const GENERATE_REPORT = methodRef<GenerateReportRequest, ReportMetadata, Report>(
 *     '/example.reports.v1.Reports/GenerateReport');
 *   longrun.method(GENERATE_REPORT, async (request, context) => ...); // typed handler
 *   await longrun.create(GENERATE_REPORT, { title: 'Q3', pages: 3 }); // typed request
 *
 * The types are the app's own interfaces or generated ones (proto-loader-gen-types: the input
 * type for `Request`, the `__Output` type for `Received`). They exist only for the compiler; at run
 * time the request, metadata and response are checked against the proto message types.
 */

/** A method's path and, for the compiler only, its types. */
export interface MethodRef<Request, Metadata, Response, Received = Request> {
  /** `/package.Service/Method` */
  readonly path: string;
  /** Never set: carries the types. */
  readonly types?: {
    /** What `create` takes. */
    request: Request;
    /** What the handler gets (its request as decoded: every field present). */
    received: Received;
    metadata: Metadata;
    response: Response;
  };
}

/**
 * Names a method with its types. `Received` (default: `Request`) is the handler's view of the
 * request; with generated types pass the `__Output` type there.
 */
export function methodRef<Request, Metadata, Response, Received = Request>(path: string): MethodRef<Request, Metadata, Response, Received> {
  return Object.freeze({ path });
}

export function pathOf(method: string | MethodRef<unknown, unknown, unknown, unknown>): string {
  return typeof method === 'string' ? method : method.path;
}
