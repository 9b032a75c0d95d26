export { ConnectionGrant, type Share } from './connection-grant.js';
export { download, type DownloadResult } from './download.js';
export type { DownloadOptions } from './options.js';
export type { DownloadEvent, EventListener, SegmentProgress } from './events.js';
export { makePlan, type Plan, type Validators } from './planner.js';
export { runBench, type BenchOptions, type BenchReport, type BenchResult } from './bench/sweep.js';
export type { ByteRange } from './range.js';
export {
  ExitCode, RangegetError, UsageError, OutputExistsError, HttpError, NetworkError, ProtocolError,
  IntegrityError, LocalIoError, ManifestError, LockedError, AbortedError, RemoteChangedError, RangeIgnoredError, SizeMismatchError,
} from './errors.js';
export { VERSION } from './version.js';
