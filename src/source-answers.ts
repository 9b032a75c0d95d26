interface Answers {
  /** Requests sent or waiting for a connection, not yet answered. */
  pending: number;
  /** Requests answered and still running. */
  flowing: number;
  lastAnswerAt: number;
}

/**
 * Whether each server answers the download's requests. A connection a server refuses is judged by
 * that server alone: one that serves its other connections allows fewer than it was given (the
 * refused one retires); one that serves none, while a mirror serves the rest, is failing (it is
 * dropped). Pure bookkeeping: the caller says when requests start, are answered and end.
 */
export class SourceAnswers<Source> {
  private readonly bySource = new Map<Source, Answers>();

  started(source: Source): void {
    this.of(source).pending++;
  }

  answered(source: Source, now: number): void {
    const answers = this.of(source);
    answers.pending--;
    answers.flowing++;
    answers.lastAnswerAt = now;
  }

  ended(source: Source, wasAnswered: boolean): void {
    const answers = this.of(source);
    if (wasAnswered) answers.flowing--;
    else answers.pending--;
  }

  /** Whether `source` serves a request now, or answered one at `since` or later. */
  serves(source: Source, since: number): boolean {
    const answers = this.of(source);
    return answers.flowing > 0 || answers.lastAnswerAt >= since;
  }

  /** Whether requests to `source` still wait for their answer: too soon to judge it. */
  awaits(source: Source): boolean {
    return this.of(source).pending > 0;
  }

  private of(source: Source): Answers {
    let answers = this.bySource.get(source);
    if (!answers) this.bySource.set(source, (answers = { pending: 0, flowing: 0, lastAnswerAt: -Infinity }));
    return answers;
  }
}
