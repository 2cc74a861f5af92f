import { parseJson } from '../../../plugins/http/json';
import { syntaxErrorPosition } from '../../../plugins/http/json-position';

/** The parser behind every JSON body: where a syntax error is, and which keys never survive. */

describe('JSON bodies', () => {
  test.each([
    ['{"a": 1,', 8],
    ['{"a": tru}', 9],
    ['[1, 2,, 3]', 6],
    ['{"a" 1}', 5],
    ['{"a": "b\u0001"}', 8],
    ['{"a": "\\x"}', 8],
    ['{"a": 1} x', 9],
    ['', 0],
    ['"unterminated', 13],
    ['{"a": -}', 6],
  ])('the first error in %j is at %i', (text, at) => {
    expect(syntaxErrorPosition(text)).toBe(at);
    if (text) expect(() => parseJson(text)).toThrow(/invalid JSON at line 1/);
  });

  test('line and column count from 1', () => {
    expect(() => parseJson('{\n  "a": 1,\n  "b": tru\n}')).toThrow(/^invalid JSON at line 3, column 11 \(position 22\)/);
  });

  test('__proto__, constructor and prototype keys are dropped at every depth; arrays and other keys are kept', () => {
    const v = parseJson('{"__proto__":{"x":1},"a":[{"constructor":{"prototype":{"y":1}},"b":2}],"prototype":3,"c":{"d":{"__proto__":null,"e":4}}}');
    expect(v).toEqual({ a: [{ b: 2 }], c: { d: { e: 4 } } });
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(parseJson('["__proto__","constructor"]')).toEqual(['__proto__', 'constructor']);
    expect(parseJson('{"protocol":"x","constructed":1}')).toEqual({ protocol: 'x', constructed: 1 });
  });
});
