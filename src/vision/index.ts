/**
 * The Vision sample: `google.cloud.vision.v1.ImageAnnotator/AsyncBatchAnnotateFiles` on longrun,
 * wire-compatible with Google's Vision v1 so Google's own client libraries work against it.
 * Embed it as `createLongrun({ protoFiles: VISION_PROTO_FILES })` then `addVision(longrun, ...)`.
 */
import type { Longrun } from '../index.js';
import { addAsyncBatchAnnotateFiles } from './annotate-files.js';
import { LocalStorage } from './storage.js';

export { ASYNC_BATCH_ANNOTATE_FILES } from './annotate-files.js';
export { LIMITS as VISION_LIMITS } from './request.js';

export { VISION_PROTO_FILES } from './protos.js';

export interface VisionOptions {
  /** Folder that holds the gs:// buckets: gs://BUCKET/OBJECT is <storageRoot>/BUCKET/OBJECT. */
  storageRoot: string;
  /** Files annotated at once in this process (default: 2; the work is CPU-bound). */
  concurrency?: number;
}

export function addVision(longrun: Longrun, options: VisionOptions): void {
  addAsyncBatchAnnotateFiles(longrun, new LocalStorage(options.storageRoot), options);
}
