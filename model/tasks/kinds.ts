import type { Draw } from './random.ts';

/**
 * The task family of the embedded default model: problems whose answers are exact integers far
 * beyond what a small model can compute in its head (products of 20-digit numbers, 50-digit
 * powers, modular powers with 9-digit exponents, digit sums of factorials, prime counts...), but
 * that a few lines of JavaScript with BigInt compute exactly. Each kind has:
 *
 * - `sample(draw, level)`: parameters; `level` 1..3 scales operand sizes (see README.md);
 * - `answer(p)`: the gold answer, computed here exactly with BigInt, never by running the code;
 * - phrasings, each assigned to one phrasing set (warm start, RL only, held out);
 * - `plan(p)`: the sentence the solution starts with, a few words naming the method (every byte is a
 *   token the warm start pays for; the longer sentences made plans 19% of its tokens); `code(p)`: a correct solution;
 * - `bugs`: plausible wrong solutions (Number instead of BigInt, off-by-one bounds, a wrong
 *   operator) that make the warm start noisy, so reward has something to select.
 */

export type Level = 1 | 2 | 3;
export const LEVELS: readonly Level[] = [1, 2, 3];

/** Which training stage may see a phrasing (see README.md "Splits"). */
export type PhrasingSet = 'warmstart' | 'rl' | 'heldout';

export interface Phrasing<P> {
  set: PhrasingSet;
  text: (p: P) => string;
}

export interface Bug<P> {
  /** What is wrong, e.g. "number" (Number arithmetic loses precision), "off_by_one". */
  name: string;
  code: (p: P) => string;
}

export interface TaskKind<P> {
  name: string;
  sample: (draw: Draw, level: Level) => P;
  answer: (p: P) => bigint;
  phrasings: readonly Phrasing<P>[];
  plan: (p: P) => string;
  code: (p: P) => string;
  bugs: readonly Bug<P>[];
}

/** Defines a kind with its parameter type inferred from `sample`. */
const kind = <P>(k: TaskKind<P>): TaskKind<P> => k;

const lines = (...xs: string[]): string => xs.join('\n');

/** Exact helpers for the golds. */
function digitSum(n: bigint): bigint {
  let s = 0n;
  for (const d of n.toString()) s += BigInt(d);
  return s;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b > 0n) [a, b] = [b, a % b];
  return a;
}

function powMod(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n % mod;
  base %= mod;
  while (exp > 0n) {
    if (exp & 1n) result = (result * base) % mod;
    base = (base * base) % mod;
    exp >>= 1n;
  }
  return result;
}

function factorial(n: bigint): bigint {
  let f = 1n;
  for (let i = 2n; i <= n; i++) f *= i;
  return f;
}

function fibonacci(n: number): bigint {
  let a = 0n;
  let b = 1n;
  for (let i = 0; i < n; i++) [a, b] = [b, a + b];
  return a;
}

function binomial(n: bigint, k: bigint): bigint {
  let r = 1n;
  for (let i = 1n; i <= k; i++) r = (r * (n - i + 1n)) / i;
  return r;
}

function countPrimes(n: number): number {
  const composite = new Uint8Array(n + 1);
  let count = 0;
  for (let i = 2; i <= n; i++) {
    if (composite[i]) continue;
    count++;
    for (let j = i * i; j <= n; j += i) composite[j] = 1;
  }
  return count;
}

/** Largest exponent b with base^b below 10^digits, so answers stay a bounded number of tokens. */
function maxExponent(base: number, digits: number): number {
  return Math.floor(digits / Math.log10(base));
}

const pick3 = <T>(level: Level, options: readonly [T, T, T]): T => options[level - 1]!;

export const product = kind({
  name: 'product',
  sample: (draw, level) => {
    const [lo, hi] = pick3(level, [[6, 9], [10, 14], [15, 20]] as const);
    return { a: draw.sized(lo, hi), b: draw.sized(lo, hi) };
  },
  answer: ({ a, b }) => a * b,
  phrasings: [
    { set: 'warmstart', text: ({ a, b }) => `What is ${a} times ${b}?` },
    { set: 'warmstart', text: ({ a, b }) => `Compute the product of ${a} and ${b}.` },
    { set: 'rl', text: ({ a, b }) => `Multiply ${a} by ${b}. What do you get?` },
    { set: 'heldout', text: ({ a, b }) => `Find the exact value of ${a} multiplied by ${b}.` },
  ],
  plan: () => 'I multiply them as BigInt.',
  code: ({ a, b }) => lines(`const a = ${a}n;`, `const b = ${b}n;`, 'console.log(String(a * b));'),
  // BigInt only at the end: exact digits of the rounded float (a float printed in exponent form would
  // grade equal to the gold by relative tolerance, so the bug would not be one).
  bugs: [{ name: 'number', code: ({ a, b }) => lines(`const a = ${a};`, `const b = ${b};`, 'console.log(String(BigInt(a * b)));') }],
});

export const sum = kind({
  name: 'sum',
  sample: (draw, level) => {
    const [lo, hi] = pick3(level, [[9, 12], [13, 16], [17, 22]] as const);
    return { xs: Array.from({ length: draw.int(3, 5) }, () => draw.sized(lo, hi)) };
  },
  answer: ({ xs }) => xs.reduce((a, b) => a + b, 0n),
  phrasings: [
    { set: 'warmstart', text: ({ xs }) => `What is the sum of ${xs.slice(0, -1).join(', ')} and ${xs.at(-1)}?` },
    { set: 'warmstart', text: ({ xs }) => `Add the numbers ${xs.join(', ')}.` },
    { set: 'rl', text: ({ xs }) => `Find the total of ${xs.join(', ')}.` },
    { set: 'heldout', text: ({ xs }) => `Evaluate ${xs.join(' + ')} exactly.` },
  ],
  plan: () => 'I add them as BigInt.',
  code: ({ xs }) => lines(`const xs = [${xs.map((x) => `${x}n`).join(', ')}];`, 'let total = 0n;', 'for (const x of xs) total += x;', 'console.log(String(total));'),
  bugs: [
    {
      name: 'number',
      code: ({ xs }) => lines(`const xs = [${xs.join(', ')}];`, 'let total = 0;', 'for (const x of xs) total += x;', 'console.log(String(BigInt(total)));'),
    },
  ],
});

export const power = kind({
  name: 'power',
  sample: (draw, level) => {
    const [aLo, aHi, digits] = pick3(level, [[2, 30, 30], [2, 99, 45], [100, 999, 60]] as const);
    const a = draw.int(aLo, aHi);
    const top = maxExponent(a, digits);
    return { a: BigInt(a), b: BigInt(draw.int(Math.max(2, Math.floor(top / 2)), top)) };
  },
  answer: ({ a, b }) => a ** b,
  phrasings: [
    { set: 'warmstart', text: ({ a, b }) => `What is ${a} to the power of ${b}?` },
    { set: 'warmstart', text: ({ a, b }) => `Compute ${a}^${b} exactly.` },
    { set: 'rl', text: ({ a, b }) => `What is the exact value of ${a} raised to the power ${b}?` },
    { set: 'heldout', text: ({ a, b }) => `What do you get when you multiply ${b} copies of ${a} together?` },
  ],
  plan: () => 'I use BigInt exponentiation.',
  code: ({ a, b }) => `console.log(String(${a}n ** ${b}n));`,
  bugs: [{ name: 'off_by_one', code: ({ a, b }) => lines('let r = 1n;', `for (let i = 1; i < ${b}; i++) r *= ${a}n;`, 'console.log(String(r));') }],
});

export const powerMod = kind({
  name: 'power_mod',
  sample: (draw, level) => {
    const [aDigits, eDigits, mDigits] = pick3(level, [[[1, 3], [3, 6], [3, 6]], [[3, 6], [6, 9], [6, 9]], [[6, 9], [9, 12], [9, 12]]] as const);
    return { a: draw.sized(aDigits[0], aDigits[1]), e: draw.sized(eDigits[0], eDigits[1]), m: draw.sized(mDigits[0], mDigits[1]) };
  },
  answer: ({ a, e, m }) => powMod(a, e, m),
  phrasings: [
    { set: 'warmstart', text: ({ a, e, m }) => `What is the remainder when ${a}^${e} is divided by ${m}?` },
    { set: 'warmstart', text: ({ a, e, m }) => `Compute ${a}^${e} mod ${m}.` },
    { set: 'rl', text: ({ a, e, m }) => `Find ${a} to the power ${e}, modulo ${m}.` },
    { set: 'heldout', text: ({ a, e, m }) => `When ${a} is raised to the power ${e} and divided by ${m}, what remainder is left?` },
  ],
  plan: () => 'I use fast modular exponentiation with BigInt.',
  code: ({ a, e, m }) =>
    lines(
      `let base = ${a}n % ${m}n, exp = ${e}n, result = 1n;`,
      'while (exp > 0n) {',
      `  if (exp % 2n === 1n) result = result * base % ${m}n;`,
      `  base = base * base % ${m}n;`,
      '  exp /= 2n;',
      '}',
      'console.log(String(result));',
    ),
  bugs: [
    {
      name: 'number',
      code: ({ a, e, m }) =>
        lines(
          `let base = ${a} % ${m}, exp = ${e}, result = 1;`,
          'while (exp > 0) {',
          `  if (exp % 2 === 1) result = result * base % ${m};`,
          `  base = base * base % ${m};`,
          '  exp = Math.floor(exp / 2);',
          '}',
          'console.log(String(result));',
        ),
    },
  ],
});

export const powerDigitSum = kind({
  name: 'power_digit_sum',
  sample: (draw, level) => {
    const [aLo, aHi, bLo, bHi] = pick3(level, [[2, 20, 20, 50], [2, 99, 50, 150], [100, 999, 100, 300]] as const);
    return { a: BigInt(draw.int(aLo, aHi)), b: BigInt(draw.int(bLo, bHi)) };
  },
  answer: ({ a, b }) => digitSum(a ** b),
  phrasings: [
    { set: 'warmstart', text: ({ a, b }) => `What is the sum of the digits of ${a}^${b}?` },
    { set: 'warmstart', text: ({ a, b }) => `Find the digit sum of ${a} to the power of ${b}.` },
    { set: 'rl', text: ({ a, b }) => `Add up all the digits of ${a}^${b}. What is the result?` },
    { set: 'heldout', text: ({ a, b }) => `If ${a}^${b} is written out in full, what do its digits add up to?` },
  ],
  plan: () => 'I compute the power with BigInt and sum its digits.',
  code: ({ a, b }) => lines('let sum = 0;', `for (const d of String(${a}n ** ${b}n)) sum += Number(d);`, 'console.log(sum);'),
  bugs: [{ name: 'number', code: ({ a, b }) => lines('let sum = 0;', `for (const d of String(${a} ** ${b})) sum += Number(d);`, 'console.log(sum);') }],
});

export const factorialDigitSum = kind({
  name: 'factorial_digit_sum',
  sample: (draw, level) => {
    const [lo, hi] = pick3(level, [[15, 40], [40, 120], [120, 300]] as const);
    return { n: BigInt(draw.int(lo, hi)) };
  },
  answer: ({ n }) => digitSum(factorial(n)),
  phrasings: [
    { set: 'warmstart', text: ({ n }) => `What is the sum of the digits of ${n}!?` },
    { set: 'warmstart', text: ({ n }) => `Find the digit sum of ${n} factorial.` },
    { set: 'rl', text: ({ n }) => `Add up the digits of the factorial of ${n}.` },
    { set: 'heldout', text: ({ n }) => `Write out ${n}! in full and add its digits. What is the total?` },
  ],
  plan: () => 'I compute the factorial with BigInt and sum its digits.',
  code: ({ n }) =>
    lines('let f = 1n;', `for (let i = 2n; i <= ${n}n; i++) f *= i;`, 'let sum = 0;', 'for (const d of String(f)) sum += Number(d);', 'console.log(sum);'),
  bugs: [
    {
      name: 'off_by_one',
      code: ({ n }) =>
        lines('let f = 1n;', `for (let i = 2n; i < ${n}n; i++) f *= i;`, 'let sum = 0;', 'for (const d of String(f)) sum += Number(d);', 'console.log(sum);'),
    },
  ],
});

export const fibonacciTerm = kind({
  name: 'fibonacci',
  sample: (draw, level) => {
    const [lo, hi] = pick3(level, [[80, 150], [150, 220], [220, 290]] as const);
    return { n: draw.int(lo, hi) };
  },
  answer: ({ n }) => fibonacci(n),
  phrasings: [
    { set: 'warmstart', text: ({ n }) => `Let F(1) = F(2) = 1 and F(n) = F(n-1) + F(n-2). What is F(${n})?` },
    { set: 'warmstart', text: ({ n }) => `What is the Fibonacci number F(${n}), with F(1) = F(2) = 1?` },
    { set: 'rl', text: ({ n }) => `The Fibonacci sequence starts 1, 1, 2, 3, 5, 8. What is its term number ${n}?` },
    { set: 'heldout', text: ({ n }) => `A sequence starts with 1 and 1, and each later term is the sum of the two before it. What is term ${n}?` },
  ],
  plan: () => 'I iterate the recurrence with BigInt.',
  code: ({ n }) => lines('let a = 0n, b = 1n;', `for (let i = 0; i < ${n}; i++) [a, b] = [b, a + b];`, 'console.log(String(a));'),
  bugs: [{ name: 'off_by_one', code: ({ n }) => lines('let a = 0n, b = 1n;', `for (let i = 1; i < ${n}; i++) [a, b] = [b, a + b];`, 'console.log(String(a));') }],
});

export const choose = kind({
  name: 'binomial',
  sample: (draw, level) => {
    const [lo, hi] = pick3(level, [[30, 60], [60, 120], [120, 200]] as const);
    const n = draw.int(lo, hi);
    return { n: BigInt(n), k: BigInt(draw.int(3, Math.floor(n / 2))) };
  },
  answer: ({ n, k }) => binomial(n, k),
  phrasings: [
    { set: 'warmstart', text: ({ n, k }) => `How many ways are there to choose ${k} items from ${n}?` },
    { set: 'warmstart', text: ({ n, k }) => `Compute the binomial coefficient C(${n}, ${k}).` },
    { set: 'rl', text: ({ n, k }) => `In how many ways can a committee of ${k} be picked from ${n} people?` },
    { set: 'heldout', text: ({ n, k }) => `How many ${k}-element subsets does a set with ${n} elements have?` },
  ],
  plan: () => 'I compute the binomial coefficient with BigInt.',
  code: ({ n, k }) => lines('let r = 1n;', `for (let i = 1n; i <= ${k}n; i++) r = r * (${n}n - i + 1n) / i;`, 'console.log(String(r));'),
  bugs: [{ name: 'off_by_one', code: ({ n, k }) => lines('let r = 1n;', `for (let i = 1n; i < ${k}n; i++) r = r * (${n}n - i + 1n) / i;`, 'console.log(String(r));') }],
});

export const countMultiples = kind({
  name: 'count_multiples',
  sample: (draw, level) => {
    const [lo, hi] = pick3(level, [[3, 4], [4, 5], [5, 6]] as const);
    const a = draw.int(2, 40);
    let b = draw.int(2, 40);
    while (b === a) b = draw.int(2, 40);
    return { limit: Number(draw.sized(lo, hi)), a, b };
  },
  answer: ({ limit, a, b }) => {
    const n = BigInt(limit);
    const [x, y] = [BigInt(a), BigInt(b)];
    return n / x + n / y - n / ((x * y) / gcd(x, y));
  },
  phrasings: [
    { set: 'warmstart', text: ({ limit, a, b }) => `How many integers from 1 to ${limit} are divisible by ${a} or ${b}?` },
    { set: 'warmstart', text: ({ limit, a, b }) => `Count the integers between 1 and ${limit} that are multiples of ${a} or of ${b}.` },
    { set: 'rl', text: ({ limit, a, b }) => `How many of the numbers 1, 2, ..., ${limit} are divisible by at least one of ${a} and ${b}?` },
    { set: 'heldout', text: ({ limit, a, b }) => `Among the first ${limit} positive integers, how many are multiples of ${a} or ${b}?` },
  ],
  plan: () => 'I count the multiples with a loop.',
  code: ({ limit, a, b }) => lines('let count = 0;', `for (let i = 1; i <= ${limit}; i++) if (i % ${a} === 0 || i % ${b} === 0) count++;`, 'console.log(count);'),
  bugs: [
    { name: 'wrong_operator', code: ({ limit, a, b }) => lines('let count = 0;', `for (let i = 1; i <= ${limit}; i++) if (i % ${a} === 0 && i % ${b} === 0) count++;`, 'console.log(count);') },
  ],
});

export const greatestCommonDivisor = kind({
  name: 'gcd',
  sample: (draw, level) => {
    const [g, xy] = pick3(level, [[[5, 7], [4, 6]], [[8, 11], [6, 8]], [[12, 15], [8, 10]]] as const);
    const common = draw.sized(g[0], g[1]);
    return { a: common * draw.sized(xy[0], xy[1]), b: common * draw.sized(xy[0], xy[1]) };
  },
  answer: ({ a, b }) => gcd(a, b),
  phrasings: [
    { set: 'warmstart', text: ({ a, b }) => `What is the greatest common divisor of ${a} and ${b}?` },
    { set: 'warmstart', text: ({ a, b }) => `Find gcd(${a}, ${b}).` },
    { set: 'rl', text: ({ a, b }) => `What is the largest integer that divides both ${a} and ${b}?` },
    { set: 'heldout', text: ({ a, b }) => `Compute the highest common factor of ${a} and ${b}.` },
  ],
  plan: () => "I run Euclid's algorithm with BigInt.",
  code: ({ a, b }) => lines(`let a = ${a}n, b = ${b}n;`, 'while (b > 0n) [a, b] = [b, a % b];', 'console.log(String(a));'),
  bugs: [{ name: 'number', code: ({ a, b }) => lines(`let a = ${a}, b = ${b};`, 'while (b > 0) [a, b] = [b, a % b];', 'console.log(String(a));') }],
});

export const primeCount = kind({
  name: 'prime_count',
  sample: (draw, level) => {
    const [lo, hi] = pick3(level, [[100, 5000], [5000, 50000], [50000, 300000]] as const);
    return { limit: draw.int(lo, hi) };
  },
  answer: ({ limit }) => BigInt(countPrimes(limit)),
  phrasings: [
    { set: 'warmstart', text: ({ limit }) => `How many prime numbers are less than or equal to ${limit}?` },
    { set: 'warmstart', text: ({ limit }) => `Count the primes up to ${limit}.` },
    { set: 'rl', text: ({ limit }) => `How many primes p satisfy p <= ${limit}?` },
    { set: 'heldout', text: ({ limit }) => `What is the number of primes not exceeding ${limit}?` },
  ],
  plan: () => 'I count the primes with a sieve.',
  code: ({ limit }) =>
    lines(
      `const n = ${limit};`,
      'const composite = new Uint8Array(n + 1);',
      'let count = 0;',
      'for (let i = 2; i <= n; i++) {',
      '  if (composite[i]) continue;',
      '  count++;',
      '  for (let j = i * i; j <= n; j += i) composite[j] = 1;',
      '}',
      'console.log(count);',
    ),
  bugs: [
    {
      name: 'off_by_one',
      code: ({ limit }) =>
        lines(
          `const n = ${limit};`,
          'const composite = new Uint8Array(n + 1);',
          'let count = 0;',
          'for (let i = 2; i < n; i++) {',
          '  if (composite[i]) continue;',
          '  count++;',
          '  for (let j = i * i; j < n; j += i) composite[j] = 1;',
          '}',
          'console.log(count + 1);',
        ),
    },
  ],
});

export const sumOfSquares = kind({
  name: 'sum_of_squares',
  sample: (draw, level) => {
    const [lo, hi] = pick3(level, [[4, 5], [6, 6], [7, 7]] as const);
    return { n: draw.sized(lo, hi) };
  },
  answer: ({ n }) => (n * (n + 1n) * (2n * n + 1n)) / 6n,
  phrasings: [
    { set: 'warmstart', text: ({ n }) => `What is 1^2 + 2^2 + ... + ${n}^2?` },
    { set: 'warmstart', text: ({ n }) => `Find the sum of the squares of the integers from 1 to ${n}.` },
    { set: 'rl', text: ({ n }) => `Add up k^2 for every k from 1 to ${n}.` },
    { set: 'heldout', text: ({ n }) => `Compute the sum of all the perfect squares from 1 up to ${n}^2.` },
  ],
  plan: () => 'I use n(n+1)(2n+1)/6 with BigInt.',
  code: ({ n }) => lines(`const n = ${n}n;`, 'console.log(String(n * (n + 1n) * (2n * n + 1n) / 6n));'),
  bugs: [{ name: 'number', code: ({ n }) => lines(`const n = ${n};`, 'console.log(String(n * (n + 1) * (2 * n + 1) / 6));') }],
});

// Each kind's own parameter type is erased here: the generator only passes a kind's params back to that kind.
export type AnyTaskKind = TaskKind<any>;

export const TASK_KINDS: readonly AnyTaskKind[] = [
  product,
  sum,
  power,
  powerMod,
  powerDigitSum,
  factorialDigitSum,
  fibonacciTerm,
  choose,
  countMultiples,
  greatestCommonDivisor,
  primeCount,
  sumOfSquares,
];
