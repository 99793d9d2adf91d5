import { lookupTable } from './lookup.ts';

/**
 * String-level cleanup of an answer before parsing: one spelling for each notation
 * (Unicode, \dfrac, \left, spacing, $...$, degree and percent signs, thousands separators, units).
 * Everything here is a plain regex pass, linear in the input.
 */

const UNICODE: Record<string, string> = lookupTable({
  '−': '-', '–': '-', '—': '-', '×': '\\times ', '·': '\\cdot ', '⋅': '\\cdot ', '÷': '\\div ', '√': '\\sqrt',
  'π': '\\pi ', '∞': '\\infty ', '≤': '\\le ', '≥': '\\ge ', '≠': '\\ne ', '±': '\\pm ', '∓': '\\mp ',
  '∅': '\\emptyset ', '∪': '\\cup ', '∩': '\\cap ', '∈': '\\in ', '′': "'", '⁄': '/', '\u00a0': ' ',
  '²': '^2', '³': '^3', 'θ': '\\theta ', 'α': '\\alpha ', 'β': '\\beta ', 'λ': '\\lambda ', 'ω': '\\omega ',
  '，': ',', '：': ':', '（': '(', '）': ')',
});
const UNICODE_RE = new RegExp(`[${Object.keys(UNICODE).join('')}]`, 'g');

/**
 * Unit words dropped after a quantity (`5 cm`, `864 \text{ inches}^2`). Multi-letter only: a
 * single letter such as `m` may be a variable, so it is dropped only inside \text{} or \mathrm{}.
 */
const UNIT_WORDS = [
  'mm', 'cm', 'km', 'meters?', 'metres?', 'inch(?:es)?', 'feet', 'foot', 'ft', 'yards?', 'yd', 'miles?',
  'sq', 'square', 'cubic', 'units?', 'cents?', 'dollars?', 'euros?', 'pounds?', 'lbs?', 'ounces?', 'oz',
  'hours?', 'hrs?', 'minutes?', 'mins', 'seconds?', 'secs', 'days?', 'weeks?', 'months?', 'years?',
  'kg', 'grams?', 'mg', 'liters?', 'litres?', 'ml', 'gallons?', 'mph', 'kph', 'km/h', 'm/s', 'calories',
  'people', 'persons?', 'students?', 'ways', 'points?', 'times', 'apples', 'books', 'pages', 'eggs',
];
/** Whether a word is one of the unit words: prose detection in extract.ts does not count them as prose. */
const UNIT_WORD_RE = new RegExp(`^(?:${UNIT_WORDS.join('|')})$`, 'i');
export const isUnitWord = (word: string): boolean => UNIT_WORD_RE.test(word);
const UNIT_RE = new RegExp(`(?<=[\\d}).%°]\\s*)(?:${UNIT_WORDS.join('|')})(?:\\s*\\^\\s*\\{?\\s*[23]\\s*\\}?)?(?![A-Za-z])`, 'g');
/** `\text{ cm}^2`, `\mathrm{~m}`, `\mbox{ inches}` after a quantity. */
const TEXT_UNIT_RE = /(?<=[\d}).%°]\s*)\\(?:text|mathrm)\{(?!\s*(?:and|or)\s*\})\s*~?\s*[A-Za-z][A-Za-z\s/]*\}(?:\s*\^\s*\{?\s*[23]\s*\}?)?/g;

/** Replacements applied in order. */
const RULES: [RegExp, string | ((match: string) => string)][] = [
  [/\\\(|\\\)|\\\[|\\\]|\$|\\displaystyle|\\textstyle/g, ' '],
  [/\\(?:left|right)\s*\./g, ''],
  [/\\(?:left|right|[bB]igg?[lrm]?)(?![A-Za-z])/g, ''],
  // Thousands separators written as `,\!`, `{,}` or a thin space: 10,\!080 and 10\,080.
  [/(\d)\s*(?:,\s*\\!|\{,\}|\\,|,\s*\\,)\s*(?=\d{3}(?!\d))/g, '$1'],
  [/\\(?:mbox|textrm|textnormal|textit|textbf|textsf|texttt|textup|hbox)(?![A-Za-z])/g, '\\text'],
  [/\\text\s*\{/g, '\\text{'],
  // Roman type, however it is spelled: \text{e} and \operatorname{e} are Euler's number (as \mathrm{e} is, below);
  // the font switches {\rm e} and \mathrm e change nothing.
  [/\\(?:text|operatorname)\{\s*e\s*\}|\\rm(?![A-Za-z])\s*|\\(?:mathrm|mathit|mathbf|mathsf|mathtt|mathnormal|boldsymbol|bm)\s+(?=[A-Za-z\d])/g, (m) => (m.endsWith('}') ? 'e' : '')],
  [/\^\s*\{\s*\\circ\s*\}|\^\s*\\circ(?![A-Za-z])|\\circ(?![A-Za-z])|\\degree(?![A-Za-z])|\^\s*\{\s*°\s*\}/g, '°'],
  [/\s*\\text\{\s*degrees?\s*\}|\s*(?<![A-Za-z])degrees?(?![A-Za-z])/g, '°'],
  [/\^\s*\{\s*\\prime\s*\}|\^\s*\\prime(?![A-Za-z])|\\prime(?![A-Za-z])/g, "'"],
  [/\\%|\s*\\text\{\s*(?:percent(?:age)?|pct)\s*\}|\s*(?<![A-Za-z])(?:percent(?:age)?|pct)(?![A-Za-z])/g, '%'],
  [/\\\$|(?<![A-Za-z])(?:USD|Rs\.?)(?![A-Za-z])/g, ''],
  [/(?<!\\)\\[,;:! ]|\\q?quad(?![A-Za-z])|~|\\hspace\*?\{[^}]*\}/g, ' '],
  [/\\[dtc]frac(?![A-Za-z])/g, '\\frac'],
  [/\\[dt]binom(?![A-Za-z])/g, '\\binom'],
  [/\\operatorname\*?\s*\{\s*([A-Za-z]+)\s*\}/g, '\\$1'],
  [/(?<![A-Za-z])(?:np|numpy|math|sympy|sp)\.(?=[A-Za-z])/g, ''],
  [/\*\*/g, '^'],
  // "f(x) = ax + b, where b is an integer": the qualification is not part of the answer.
  [/,?\s*(?:\\text\{\s*)?(?<![A-Za-z])where(?![A-Za-z])[\s\S]*$/, ''],
];

/** Font commands that only change how a symbol looks: `\mathrm{d}` is `d`. */
const FONT_RE = /\\(?:mathrm|mathit|mathbf|mathsf|mathtt|mathnormal|boldsymbol|bm)\s*\{/g;

/** `0.1\overline{6}` → `\frac{15}{90}`: a repeating decimal as the fraction it is. */
function repeatingDecimal(_: string, whole: string, fixed: string, repeating: string): string {
  const all = BigInt(`${whole}${fixed}${repeating}`);
  const head = BigInt(`${whole}${fixed}` || '0');
  const den = 10n ** BigInt(fixed.length) * (10n ** BigInt(repeating.length) - 1n);
  return `\\frac{${all - head}}{${den}}`;
}

export function normalizeAnswer(input: string): string {
  // Whitespace runs first: every `\s*` below then meets at most one space, so no rule can be quadratic.
  let s = undoDoubleEscaping(input).replace(/\s+/g, ' ').replace(UNICODE_RE, (c) => UNICODE[c]!);
  for (const [re, to] of RULES) s = typeof to === 'string' ? s.replace(re, to) : s.replace(re, to);
  s = s.replace(/(\d*)\.(\d*)\\(?:overline|bar)\{(\d{1,12})\}/g, repeatingDecimal);
  // "≈ 0.56", "= 12": a leading relation sign only introduces the answer.
  s = s.replace(/^\s*(?:=|\\approx|\\sim(?![A-Za-z]))\s*/, '');
  s = s.replace(TEXT_UNIT_RE, '').replace(UNIT_RE, '');
  s = s.replace(FONT_RE, '{');
  s = s.replace(/\s+/g, ' ').trim();
  s = s.replace(/^(?:\\text\{\s*)?(?:(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*)(?:\}\s*)?/i, '');
  // Trailing sentence punctuation; a number's own point ("1.") carries no information either.
  s = s.replace(/(?<![\s.;,])[\s.;,]+$/, '');
  // A whole answer that is one number with comma-grouped thousands (58,500 or 11,111,100).
  if (/^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$/.test(s)) s = s.replace(/,/g, '');
  return s;
}

/** Letters and digits only, lower-cased: how text answers ("East", "\text{east}") are compared. */
export function normalizeText(input: string): string {
  return input
    .replace(/\\(?:text|textbf|mathrm|mbox|textit|mathbf)\s*\{([^{}]*)\}/g, '$1')
    .replace(/\$|\\[,;:! ]/g, ' ')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '');
}

/**
 * A response or answer whose every backslash was doubled, as JSON-escaping pipelines leave them
 * (`\\frac{1}{2}`, `\\boxed{3}`): halved back. Recognised when a doubled backslash precedes a
 * command and no backslash run has odd length (real LaTeX always has some single `\cmd`).
 */
export function undoDoubleEscaping(text: string): string {
  if (!text.includes('\\\\') || !/\\\\[A-Za-z]/.test(text) || /(?<!\\)(?:\\\\)*\\(?!\\)/.test(text)) return text;
  return text.replace(/\\\\/g, '\\');
}
