import type { Draw } from './random.ts';

/**
 * The task family of the embedded default model: problems whose answers are exact integers
 * beyond what a small model can compute in its head (modular powers, digit sums of 150-digit
 * powers and factorials, Fibonacci numbers and binomials modulo m, prime counts...), but that a
 * few lines of JavaScript with BigInt compute exactly.
 *
 * Every number in a problem, and every answer, is below 1000: one token of the default
 * vocabulary (model/vocab.ts). Copying numbers is the one skill the model needs that no
 * template gives it (operands into the code, the tool output into \boxed{}), and a model this
 * size trained on two cores learns to copy single tokens in a few hundred steps but did not
 * learn to copy multi-token numbers in thousands (model/README.md "Why every number is one
 * token"). Kinds whose values grow past 999 ask for the answer modulo m. Each kind has:
 *
 * - `sample(draw, level)`: parameters; `level` 1..3 scales operand sizes (see README.md);
 * - `answer(p)`: the gold answer, computed here exactly with BigInt, never by running the code;
 * - phrasings, each assigned to one phrasing set (warm start, RL only, novel: no training stage);
 * - `plan(p)`: the sentence the solution starts with, a few words naming the method (every byte is a
 *   token the warm start pays for; the longer sentences made plans 19% of its tokens); `code(p)`: a correct solution;
 * - `bugs`: plausible wrong solutions (Number instead of BigInt, off-by-one bounds, a wrong
 *   operator) that make the warm start noisy, so reward has something to select.
 */

export type Level = 1 | 2 | 3;
export const LEVELS: readonly Level[] = [1, 2, 3];

/** Which training stage may see a phrasing (see README.md "Splits"). */
export type PhrasingSet = 'warmstart' | 'rl' | 'novel';

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

/** Largest exponent b with base^b below 10^digits (digit sums of such powers stay below 1000). */
function maxExponent(base: number, digits: number): number {
  return Math.floor(digits / Math.log10(base));
}

/** The modulus of the kinds whose values outgrow three digits: the answer is then below 1000. */
const modulus = (draw: Draw): bigint => BigInt(draw.int(101, 999));
const moduloSuffix = (m: bigint): string => ` Give the answer modulo ${m}.`;

const pick3 = <T>(level: Level, options: readonly [T, T, T]): T => options[level - 1]!;

export const product = kind({
  name: 'product',
  sample: (draw, level) => {
    const [a, b] = pick3(level, [[[11, 99], [11, 99]], [[101, 999], [11, 99]], [[101, 999], [101, 999]]] as const);
    return { a: BigInt(draw.int(a[0], a[1])), b: BigInt(draw.int(b[0], b[1])), m: modulus(draw) };
  },
  answer: ({ a, b, m }) => (a * b) % m,
  phrasings: [
    { set: 'warmstart', text: ({ a, b, m }) => `What is ${a} times ${b}?${moduloSuffix(m)}` },
    { set: 'warmstart', text: ({ a, b, m }) => `Compute the product of ${a} and ${b}.${moduloSuffix(m)}` },
    { set: 'rl', text: ({ a, b, m }) => `Multiply ${a} by ${b}.${moduloSuffix(m)}` },
    { set: 'novel', text: ({ a, b, m }) => `Find the value of ${a} multiplied by ${b}.${moduloSuffix(m)}` },
  ],
  plan: () => 'I multiply them as BigInt.',
  code: ({ a, b, m }) => lines(`const a = ${a}n;`, `const b = ${b}n;`, `console.log(String(a * b % ${m}n));`),
  bugs: [{ name: 'wrong_operator', code: ({ a, b, m }) => lines(`const a = ${a}n;`, `const b = ${b}n;`, `console.log(String((a + b) % ${m}n));`) }],
});

export const sum = kind({
  name: 'sum',
  sample: (draw, level) => {
    const [lo, hi, count] = pick3(level, [[11, 99, 3], [101, 999, 3], [101, 999, 5]] as const);
    return { xs: Array.from({ length: draw.int(3, count) }, () => BigInt(draw.int(lo, hi))), m: modulus(draw) };
  },
  answer: ({ xs, m }) => xs.reduce((a, b) => a + b, 0n) % m,
  phrasings: [
    { set: 'warmstart', text: ({ xs, m }) => `What is the sum of ${xs.slice(0, -1).join(', ')} and ${xs.at(-1)}?${moduloSuffix(m)}` },
    { set: 'warmstart', text: ({ xs, m }) => `Add the numbers ${xs.join(', ')}.${moduloSuffix(m)}` },
    { set: 'rl', text: ({ xs, m }) => `Find the total of ${xs.join(', ')}.${moduloSuffix(m)}` },
    { set: 'novel', text: ({ xs, m }) => `Evaluate ${xs.join(' + ')}.${moduloSuffix(m)}` },
  ],
  plan: () => 'I add them as BigInt.',
  code: ({ xs, m }) => lines(`const xs = [${xs.map((x) => `${x}n`).join(', ')}];`, 'let total = 0n;', 'for (const x of xs) total += x;', `console.log(String(total % ${m}n));`),
  bugs: [
    {
      name: 'off_by_one',
      code: ({ xs, m }) => lines(`const xs = [${xs.map((x) => `${x}n`).join(', ')}];`, 'let total = 0n;', 'for (const x of xs.slice(1)) total += x;', `console.log(String(total % ${m}n));`),
    },
  ],
});

export const power = kind({
  name: 'power',
  sample: (draw, level) => {
    const [aLo, aHi, bLo, bHi] = pick3(level, [[2, 30, 10, 60], [31, 99, 20, 99], [100, 999, 100, 999]] as const);
    return { a: BigInt(draw.int(aLo, aHi)), b: BigInt(draw.int(bLo, bHi)), m: modulus(draw) };
  },
  answer: ({ a, b, m }) => powMod(a, b, m),
  phrasings: [
    { set: 'warmstart', text: ({ a, b, m }) => `What is ${a} to the power of ${b}?${moduloSuffix(m)}` },
    { set: 'warmstart', text: ({ a, b, m }) => `Compute ${a}^${b}.${moduloSuffix(m)}` },
    { set: 'rl', text: ({ a, b, m }) => `What is the value of ${a} raised to the power ${b}?${moduloSuffix(m)}` },
    { set: 'novel', text: ({ a, b, m }) => `What do you get when you multiply ${b} copies of ${a} together?${moduloSuffix(m)}` },
  ],
  plan: () => 'I use BigInt exponentiation.',
  code: ({ a, b, m }) => `console.log(String(${a}n ** ${b}n % ${m}n));`,
  bugs: [{ name: 'number', code: ({ a, b, m }) => `console.log(String(BigInt(${a} ** ${b}) % ${m}n));` }],
});

export const powerMod = kind({
  name: 'power_mod',
  sample: (draw, level) => {
    const [aHi, eHi, mHi] = pick3(level, [[99, 99, 99], [999, 999, 999], [999, 999, 999]] as const);
    return { a: BigInt(draw.int(2, aHi)), e: BigInt(draw.int(10, eHi)), m: BigInt(draw.int(level === 3 ? 500 : 11, mHi)) };
  },
  answer: ({ a, e, m }) => powMod(a, e, m),
  phrasings: [
    { set: 'warmstart', text: ({ a, e, m }) => `What is the remainder when ${a}^${e} is divided by ${m}?` },
    { set: 'warmstart', text: ({ a, e, m }) => `Compute ${a}^${e} mod ${m}.` },
    { set: 'rl', text: ({ a, e, m }) => `Find ${a} to the power ${e}, modulo ${m}.` },
    { set: 'novel', text: ({ a, e, m }) => `When ${a} is raised to the power ${e} and divided by ${m}, what remainder is left?` },
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
  bugs: [{ name: 'number', code: ({ a, e, m }) => `console.log(String(${a} ** ${e} % ${m}));` }],
});

export const powerDigitSum = kind({
  name: 'power_digit_sum',
  sample: (draw, level) => {
    const [aLo, aHi, digits] = pick3(level, [[2, 20, 60], [21, 99, 120], [100, 999, 170]] as const);
    const a = draw.int(aLo, aHi);
    const top = maxExponent(a, digits);
    return { a: BigInt(a), b: BigInt(draw.int(Math.max(2, Math.floor(top / 2)), top)) };
  },
  answer: ({ a, b }) => digitSum(a ** b),
  phrasings: [
    { set: 'warmstart', text: ({ a, b }) => `What is the sum of the digits of ${a}^${b}?` },
    { set: 'warmstart', text: ({ a, b }) => `Find the digit sum of ${a} to the power of ${b}.` },
    { set: 'rl', text: ({ a, b }) => `Add up all the digits of ${a}^${b}. What is the result?` },
    { set: 'novel', text: ({ a, b }) => `If ${a}^${b} is written out in full, what do its digits add up to?` },
  ],
  plan: () => 'I compute the power with BigInt and sum its digits.',
  code: ({ a, b }) => lines('let sum = 0;', `for (const d of String(${a}n ** ${b}n)) sum += Number(d);`, 'console.log(sum);'),
  bugs: [{ name: 'number', code: ({ a, b }) => lines('let sum = 0;', `for (const d of String(${a} ** ${b})) sum += Number(d);`, 'console.log(sum);') }],
});

export const factorialDigitSum = kind({
  name: 'factorial_digit_sum',
  sample: (draw, level) => {
    const [lo, hi] = pick3(level, [[15, 40], [40, 80], [80, 110]] as const);
    return { n: BigInt(draw.int(lo, hi)) };
  },
  answer: ({ n }) => digitSum(factorial(n)),
  phrasings: [
    { set: 'warmstart', text: ({ n }) => `What is the sum of the digits of ${n}!?` },
    { set: 'warmstart', text: ({ n }) => `Find the digit sum of ${n} factorial.` },
    { set: 'rl', text: ({ n }) => `Add up the digits of the factorial of ${n}.` },
    { set: 'novel', text: ({ n }) => `Write out ${n}! in full and add its digits. What is the total?` },
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
    const [lo, hi] = pick3(level, [[30, 99], [100, 500], [500, 999]] as const);
    return { n: draw.int(lo, hi), m: modulus(draw) };
  },
  answer: ({ n, m }) => fibonacci(n) % m,
  phrasings: [
    { set: 'warmstart', text: ({ n, m }) => `Let F(1) = F(2) = 1 and F(n) = F(n-1) + F(n-2). What is F(${n})?${moduloSuffix(m)}` },
    { set: 'warmstart', text: ({ n, m }) => `What is the Fibonacci number F(${n}), with F(1) = F(2) = 1?${moduloSuffix(m)}` },
    { set: 'rl', text: ({ n, m }) => `The Fibonacci sequence starts 1, 1, 2, 3, 5, 8. What is its term number ${n}?${moduloSuffix(m)}` },
    { set: 'novel', text: ({ n, m }) => `A sequence starts with 1 and 1, and each later term is the sum of the two before it. What is term ${n}?${moduloSuffix(m)}` },
  ],
  plan: () => 'I iterate the recurrence with BigInt.',
  code: ({ n, m }) => lines('let a = 0n, b = 1n;', `for (let i = 0; i < ${n}; i++) [a, b] = [b, a + b];`, `console.log(String(a % ${m}n));`),
  bugs: [{ name: 'off_by_one', code: ({ n, m }) => lines('let a = 0n, b = 1n;', `for (let i = 1; i < ${n}; i++) [a, b] = [b, a + b];`, `console.log(String(a % ${m}n));`) }],
});

export const choose = kind({
  name: 'binomial',
  sample: (draw, level) => {
    const [lo, hi] = pick3(level, [[20, 60], [61, 200], [201, 999]] as const);
    const n = draw.int(lo, hi);
    return { n: BigInt(n), k: BigInt(draw.int(3, Math.min(99, Math.floor(n / 2)))), m: modulus(draw) };
  },
  answer: ({ n, k, m }) => binomial(n, k) % m,
  phrasings: [
    { set: 'warmstart', text: ({ n, k, m }) => `How many ways are there to choose ${k} items from ${n}?${moduloSuffix(m)}` },
    { set: 'warmstart', text: ({ n, k, m }) => `Compute the binomial coefficient C(${n}, ${k}).${moduloSuffix(m)}` },
    { set: 'rl', text: ({ n, k, m }) => `In how many ways can a committee of ${k} be picked from ${n} people?${moduloSuffix(m)}` },
    { set: 'novel', text: ({ n, k, m }) => `How many ${k}-element subsets does a set with ${n} elements have?${moduloSuffix(m)}` },
  ],
  plan: () => 'I compute the binomial coefficient with BigInt.',
  code: ({ n, k, m }) => lines('let r = 1n;', `for (let i = 1n; i <= ${k}n; i++) r = r * (${n}n - i + 1n) / i;`, `console.log(String(r % ${m}n));`),
  bugs: [{ name: 'off_by_one', code: ({ n, k, m }) => lines('let r = 1n;', `for (let i = 1n; i < ${k}n; i++) r = r * (${n}n - i + 1n) / i;`, `console.log(String(r % ${m}n));`) }],
});

export const countMultiples = kind({
  name: 'count_multiples',
  sample: (draw, level) => {
    const [lo, hi] = pick3(level, [[100, 400], [400, 999], [400, 999]] as const);
    const top = level === 3 ? 99 : 40;
    const a = draw.int(2, top);
    let b = draw.int(2, top);
    while (b === a) b = draw.int(2, top);
    return { limit: draw.int(lo, hi), a, b };
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
    { set: 'novel', text: ({ limit, a, b }) => `Among the first ${limit} positive integers, how many are multiples of ${a} or ${b}?` },
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
    const [gLo, gHi] = pick3(level, [[11, 30], [31, 99], [100, 333]] as const);
    const common = draw.int(gLo, gHi);
    const cap = Math.floor(999 / common);
    let x = draw.int(2, cap);
    let y = draw.int(2, cap);
    while (gcd(BigInt(x), BigInt(y)) !== 1n) [x, y] = [draw.int(2, cap), draw.int(2, cap)];
    return { a: BigInt(common * x), b: BigInt(common * y) };
  },
  answer: ({ a, b }) => gcd(a, b),
  phrasings: [
    { set: 'warmstart', text: ({ a, b }) => `What is the greatest common divisor of ${a} and ${b}?` },
    { set: 'warmstart', text: ({ a, b }) => `Find gcd(${a}, ${b}).` },
    { set: 'rl', text: ({ a, b }) => `What is the largest integer that divides both ${a} and ${b}?` },
    { set: 'novel', text: ({ a, b }) => `Compute the highest common factor of ${a} and ${b}.` },
  ],
  plan: () => "I run Euclid's algorithm.",
  code: ({ a, b }) => lines(`let a = ${a}, b = ${b};`, 'while (b > 0) [a, b] = [b, a % b];', 'console.log(a);'),
  bugs: [{ name: 'wrong_operator', code: ({ a, b }) => lines(`let a = ${a}, b = ${b};`, 'while (b > 0) [a, b] = [b, a - b];', 'console.log(a);') }],
});

export const primeCount = kind({
  name: 'prime_count',
  sample: (draw, level) => {
    const [lo, hi] = pick3(level, [[100, 300], [300, 700], [700, 999]] as const);
    return { limit: draw.int(lo, hi) };
  },
  answer: ({ limit }) => BigInt(countPrimes(limit)),
  phrasings: [
    { set: 'warmstart', text: ({ limit }) => `How many prime numbers are less than or equal to ${limit}?` },
    { set: 'warmstart', text: ({ limit }) => `Count the primes up to ${limit}.` },
    { set: 'rl', text: ({ limit }) => `How many primes p satisfy p <= ${limit}?` },
    { set: 'novel', text: ({ limit }) => `What is the number of primes not exceeding ${limit}?` },
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
    const [lo, hi] = pick3(level, [[20, 99], [100, 500], [501, 999]] as const);
    return { n: BigInt(draw.int(lo, hi)), m: modulus(draw) };
  },
  answer: ({ n, m }) => ((n * (n + 1n) * (2n * n + 1n)) / 6n) % m,
  phrasings: [
    { set: 'warmstart', text: ({ n, m }) => `What is 1^2 + 2^2 + ... + ${n}^2?${moduloSuffix(m)}` },
    { set: 'warmstart', text: ({ n, m }) => `Find the sum of the squares of the integers from 1 to ${n}.${moduloSuffix(m)}` },
    { set: 'rl', text: ({ n, m }) => `Add up k^2 for every k from 1 to ${n}.${moduloSuffix(m)}` },
    { set: 'novel', text: ({ n, m }) => `Compute the sum of all the perfect squares from 1 up to ${n}^2.${moduloSuffix(m)}` },
  ],
  plan: () => 'I use n(n+1)(2n+1)/6 with BigInt.',
  code: ({ n, m }) => lines(`const n = ${n}n;`, `console.log(String(n * (n + 1n) * (2n * n + 1n) / 6n % ${m}n));`),
  bugs: [{ name: 'wrong_constant', code: ({ n, m }) => lines(`const n = ${n}n;`, `console.log(String(n * (n + 1n) * (2n * n + 1n) / 3n % ${m}n));`) }],
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
