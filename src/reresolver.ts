import type { Dispatcher } from 'undici';
import { HttpError, RemoteChangedError } from './errors.js';
import type { Headers } from './http.js';
import { makePlan, type Plan } from './planner.js';

/** 403/404/410 from where a redirect led: signed CDN URLs expire, the original URL may lead elsewhere now. */
export function isExpiredTarget(err: unknown, plan: Plan): err is HttpError {
  return err instanceof HttpError && [403, 404, 410].includes(err.status) && plan.finalUrl !== plan.url;
}

/**
 * When a redirect target starts refusing (an expired signed CDN URL), resolves the original URL
 * again and moves the plan to the new target, unless the file behind it changed. One resolution at
 * a time, shared by every connection that asks; after `maxFruitless` in a row with not a byte
 * written in between, the new targets do not help and the refusal stands.
 */
export class Reresolver {
  private running: Promise<void> | undefined;
  private fruitless = 0;
  private bytesAtLast = -1;

  constructor(
    private readonly agent: Dispatcher,
    private readonly headers: Headers,
    private readonly signal: AbortSignal | undefined,
    private readonly maxFruitless: number,
    private readonly notice: (message: string) => void,
  ) {}

  /** `bytesWritten`: the download's bytes so far, which tell whether the last new target helped. */
  reresolve(plan: Plan, refusal: HttpError, bytesWritten: number): Promise<void> {
    if (this.running) return this.running;
    this.fruitless = bytesWritten === this.bytesAtLast ? this.fruitless + 1 : 0;
    if (this.fruitless >= this.maxFruitless) return Promise.reject(refusal);
    this.bytesAtLast = bytesWritten;
    this.running = makePlan(this.agent, plan.url, this.headers, this.signal)
      .then((fresh) => {
        if (fresh.size !== plan.size || fresh.etag !== plan.etag || fresh.lastModified !== plan.lastModified) throw new RemoteChangedError();
        this.notice(`${new URL(plan.finalUrl).host} refused the redirect target; resolved ${plan.url} again`);
        plan.finalUrl = fresh.finalUrl;
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }
}
