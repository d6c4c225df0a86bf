/** The Vision sample's .proto files; a module of its own so the CLI's client commands need not load the sample. */
export const VISION_PROTO_FILES = ['google/cloud/vision/v1/image_annotator.proto'];
