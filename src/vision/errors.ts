/** `ErrorInfo.domain` of the Vision sample's own errors (longrun's reasons stay under `longrun`). */
export const VISION_ERROR_DOMAIN = 'vision.longrun.sample';
