import { createRequire } from 'node:module';
import type * as Undici from 'undici';

/*
 * The two parts of undici that rangeget uses, loaded on their own: the package's entry point
 * also loads fetch, WebSocket, caches and mocks, about 100 ms of every start (a third of the
 * CLI's). Should a later undici 7 move these files, the entry point is used instead: slower to
 * start, same behaviour (test/undici.test.ts notices).
 */
const require = createRequire(import.meta.url);

function load<T>(internalPath: string, fromEntryPoint: (undici: typeof Undici) => T): T {
  try {
    return require(internalPath) as T;
  } catch {
    return fromEntryPoint(require('undici') as typeof Undici);
  }
}

export const EnvHttpProxyAgent = load<typeof Undici.EnvHttpProxyAgent>(
  'undici/lib/dispatcher/env-http-proxy-agent.js', (undici) => undici.EnvHttpProxyAgent,
);

type RequestMethod = (this: Undici.Dispatcher, options: Undici.Dispatcher.RequestOptions) => Promise<Undici.Dispatcher.ResponseData>;
const requestMethod = load<RequestMethod>('undici/lib/api/api-request.js', (undici) => undici.Dispatcher.prototype.request);

/** `dispatcher.request(options)`, which only undici's entry point adds to dispatchers. */
export function request(dispatcher: Undici.Dispatcher, options: Undici.Dispatcher.RequestOptions): Promise<Undici.Dispatcher.ResponseData> {
  return requestMethod.call(dispatcher, options);
}
