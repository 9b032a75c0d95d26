import { describe, expect, it } from 'vitest';
import { NetworkError } from '../src/errors.js';
import { attemptsForWrongAddress, isRetryable, toNetworkError } from '../src/network-errors.js';

describe('error classification', () => {
  it('does not retry unknown hosts or certificate problems', () => {
    const dns = toNetworkError(Object.assign(new Error('getaddrinfo ENOTFOUND x.invalid'), { code: 'ENOTFOUND' }), 'http://x.invalid/');
    const tls = toNetworkError(Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), 'https://h/');
    const reset = toNetworkError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'http://h/');
    expect([dns, tls, reset].map((e) => e instanceof NetworkError && isRetryable(e))).toEqual([false, false, true]);
  });

  it('says what error codes mean, keeping the code', () => {
    const error = (code: string, message: string) => toNetworkError(Object.assign(new Error(message), { code }), 'http://h:8080/').message;
    expect(error('ENOTFOUND', 'getaddrinfo ENOTFOUND h')).toBe('cannot find h:8080 (ENOTFOUND); check the URL');
    expect(error('UND_ERR_HEADERS_TIMEOUT', 'Headers Timeout Error')).toBe('h:8080 sent no response within the timeout (UND_ERR_HEADERS_TIMEOUT); a longer --timeout may help');
    expect(error('UND_ERR_SOCKET', 'other side closed')).toBe('h:8080 closed the connection (UND_ERR_SOCKET)');
    expect(error('EWHATEVER', 'something new')).toBe('h:8080: EWHATEVER: something new');
    const broken = Object.assign(new Error('Response does not match the HTTP/1.1 protocol (Invalid header token)'), { name: 'HTTPParserError' });
    expect(toNetworkError(broken, 'http://h:8080/').message).toBe('h:8080 sent a response that is not valid HTTP/1.1 (Invalid header token), which rangeget cannot read');
  });

  it('names the proxy when the connection that failed was to it, not to the server', () => {
    const refused = (port: number) => Object.assign(new Error(`connect ECONNREFUSED 10.0.0.1:${port}`), { code: 'ECONNREFUSED', syscall: 'connect', address: '10.0.0.1', port });
    expect(toNetworkError(refused(3128), 'https://h/').message).toBe('the proxy 10.0.0.1:3128 refused the connection (ECONNREFUSED); check --proxy, or HTTP_PROXY and HTTPS_PROXY');
    expect(toNetworkError(refused(443), 'https://h/').message).toBe('h refused the connection (ECONNREFUSED); check the port, and that the server is running');
  });

  it('gives the first contact one attempt when nothing listens, two when the answer is not HTTP', () => {
    const refused = toNetworkError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), 'http://h/');
    const notHttp = toNetworkError(Object.assign(new Error('Response does not match the HTTP/1.1 protocol (Expected HTTP/)'), { name: 'HTTPParserError' }), 'http://h/');
    const reset = toNetworkError(Object.assign(new Error('reset'), { code: 'ECONNRESET' }), 'http://h/');
    expect([refused, notHttp, reset].map(attemptsForWrongAddress)).toEqual([1, 2, undefined]);
  });
});
