import { describe, expect, it } from 'vitest';
import { SourceAnswers } from '../src/source-answers.js';

describe('SourceAnswers', () => {
  it('tells whether a server serves a request now, or answered one since a time', () => {
    const answers = new SourceAnswers<string>();
    answers.started('a');
    expect(answers.serves('a', 0)).toBe(false);
    answers.answered('a', 10);
    expect(answers.serves('a', 0)).toBe(true);
    answers.ended('a', true);
    expect(answers.serves('a', 10)).toBe(true);
    expect(answers.serves('a', 11)).toBe(false);
  });

  it('judges each server by its own answers', () => {
    const answers = new SourceAnswers<string>();
    for (const source of ['main', 'mirror']) answers.started(source);
    answers.answered('main', 5);
    expect(answers.serves('main', 0)).toBe(true);
    expect(answers.serves('mirror', 0)).toBe(false);
  });

  it('tells whether requests to a server still wait for their answer', () => {
    const answers = new SourceAnswers<string>();
    expect(answers.awaits('a')).toBe(false);
    answers.started('a');
    answers.started('a');
    expect(answers.awaits('a')).toBe(true);
    answers.ended('a', false);
    answers.answered('a', 1);
    expect(answers.awaits('a')).toBe(false);
  });
});
