export { download, type DownloadResult } from './download.js';
export type { DownloadOptions } from './options.js';
export type { DownloadEvent, EventListener } from './events.js';
export { makePlan, type Plan } from './planner.js';
export type { ByteRange } from './range.js';
export {
  ExitCode, RangegetError, UsageError, OutputExistsError, HttpError, NetworkError, ProtocolError,
  IntegrityError, LocalIoError, ManifestError, AbortedError,
} from './errors.js';
export { VERSION } from './version.js';
