/**
 * Whole responses written the way models write them (issue 18), with the gold and whether they
 * must grade equal in the default mode: answers in prose, boxes joined by words or spacing, a later
 * "final answer is", double-escaped backslashes. Every category has look-alike wrong answers that
 * must stay not equal. Shared by the tests (extract.test.ts) and the benchmark (bench/grading.ts).
 * Rows as in cases.ts, with `pred` a whole response.
 */
import { casesOf, type GradeCase, type Row } from './cases.ts';

const TABLE: Record<string, Row[]> = {
  prose_answers: [
    ['12', 'The total is $12$.', true],
    ['12', 'The total is $13$.', false],
    ['19', 'Final Answer: The least such $n$ is 19.', true],
    ['19', 'Final Answer: The least such $n$ is 91.', false],
    ['\\frac{3}{7}', 'The probability works out to $\\frac{3}{7}$.', true],
    ['\\frac{3}{7}', 'The probability works out to $\\frac{7}{3}$.', false],
    ['42', 'So the answer is 42 because six times seven is forty-two.', true],
    ['42', 'So the answer is 24 because four times six is twenty-four.', false],
    ['8', 'Hence the answer is 8 oranges.', true],
    ['8', 'Hence the answer is 9 oranges.', false],
    ['2', 'We need the value of $x$.\nSolving the system gives $x = 2$.', true],
    ['2', 'We need the value of $x$.\nSolving the system gives $x = 3$.', false],
    ['\\sqrt{2}', 'Putting it together, the diagonal is $\\sqrt{2}$ long.', true],
    ['\\sqrt{2}', 'Putting it together, the diagonal is $\\sqrt{3}$ long.', false],
    ['1, 3', 'The roots are $x = 1$ and $x = 3$.', true],
    ['1, 3', 'The roots are $x = 1$ and $x = 4$.', false],
    ['5', 'After simplifying everything:\n\n5', true],
    ['5', 'After simplifying everything:\n\n**5**', true],
    ['5', 'After simplifying everything:\n\n**6**', false],
    ['25', 'We pay $5 per hour for 5 hours, which is $25 in total.', true],
    ['30', 'We pay $5 per hour for 5 hours, which is $25 in total.', false],
    ['7', 'Checking each case by hand.\nThe count comes to \\(7\\) in the end.', true],
    ['7', 'Checking each case by hand.\nThe count comes to \\(8\\) in the end.', false],
  ],
  boxes_joined: [
    ['3, 8', '$\\boxed{3} \\quad \\text{and} \\quad \\boxed{8}$', true],
    ['3, 8', '$\\boxed{3} \\quad \\text{and} \\quad \\boxed{9}$', false],
    ['(2, 5)', 'Thus \\boxed{a=2},\\ \\boxed{b=5}', true],
    ['(2, 5)', 'Thus \\boxed{a=5},\\ \\boxed{b=2}', false],
    ['-1, 1', '\\boxed{-1}\\qquad\\boxed{1}', true],
    ['-1, 1', '\\boxed{-1}\\qquad\\boxed{2}', false],
    ['-1, 1', '\\boxed{-1} ~or~ \\boxed{1}', true],
    // Words between two boxes mean the later one replaces the earlier.
    ['3', 'First guess \\boxed{5}. Checking again, the count is wrong; it is \\boxed{3}.', true],
    ['3, 5', 'First guess \\boxed{5}. Checking again, the count is wrong; it is \\boxed{3}.', false],
  ],
  later_final_answer: [
    ['6', 'So \\boxed{5}.\n\nHmm, I miscounted one case. The final answer is 6.', true],
    ['5', 'So \\boxed{5}.\n\nHmm, I miscounted one case. The final answer is 6.', false],
    // A later phrase without a math answer does not replace the box.
    ['5', 'So \\boxed{5}.\n\nLet me double check the final answer: it is consistent.', true],
    ['5', 'The final answer is $\\boxed{5}$.', true],
    // "the answer is" (not a final answer) does not override a box.
    ['5', '\\boxed{5}\n\nNote that the answer is 4 when repetition is not allowed.', true],
  ],
  double_escaped_responses: [
    ['\\frac{2}{3}', 'Therefore \\\\boxed{\\\\frac{2}{3}}', true],
    ['\\frac{2}{3}', 'Therefore \\\\boxed{\\\\frac{3}{2}}', false],
    ['\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}', 'So \\\\boxed{\\\\begin{pmatrix} 1 & 2 \\\\\\\\ 3 & 4 \\\\end{pmatrix}}', true],
    ['\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}', 'So \\\\boxed{\\\\begin{pmatrix} 1 & 3 \\\\\\\\ 2 & 4 \\\\end{pmatrix}}', false],
  ],
};

export const RESPONSE_CASES: GradeCase[] = casesOf(TABLE);
