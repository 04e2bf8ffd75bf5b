/** Shamir shares of the admin secret: format, record, split/verify/combine (see docs/shares.md). */
export { ShareError, type ShareProblem } from "./errors.js";
export { SHARE_FORMAT, MAX_SHARE_TEXT, formatShareLine, parseShareLine, shareChecksum, type ShareLine } from "./format.js";
export {
  RECORD_FORMAT,
  decodeShareSetRecord,
  encodeShareSetRecord,
  shareCommitment,
  shareSetRecord,
  type ShareSetRecord,
} from "./record.js";
export { combineShares, splitSecret, type SplitOptions, type SplitResult } from "./shamir.js";
export { VerifiedShare, verifyShare } from "./verify.js";
