// Writing an AST back as CEL source, for the residual that is parsed again. cel-js 8 has
// serialize(), but it cannot be trusted with an AST it did not just parse from text the user wrote
// with parentheses: it writes `a - (b - c)` as `a - b - c` and `a % (b * c)` as `a % b * c`, rounds
// doubles to 9 decimals (`1e-10` becomes `0`), writes `1e+300.0` (which does not parse) and escapes
// an emoji as two `\uD8xx` escapes its own parser refuses. So operators are written here, with
// parentheses wherever an operand's precedence does not make them redundant, and serialize() is
// used only for literals.

import type { ASTNode } from '@marcbachmann/cel-js';
import { serialize } from '@marcbachmann/cel-js/serialize';

// CEL precedence (the spec's grammar), higher binds tighter. All relations share one level.
const LEVEL: Readonly<Record<string, number>> = {
  '?:': 1,
  '||': 2,
  '&&': 3,
  '==': 4,
  '!=': 4,
  '<': 4,
  '<=': 4,
  '>': 4,
  '>=': 4,
  in: 4,
  '+': 5,
  '-': 5,
  '*': 6,
  '/': 6,
  '%': 6,
  '!_': 7,
  '-_': 7,
};
const ATOM = 8;

function levelOf(node: ASTNode): number {
  if (node.op === 'value') {
    const v = node.args;
    // A negative literal is written with a sign, so it binds like unary minus.
    return (typeof v === 'bigint' || typeof v === 'number') && (v < 0 || Object.is(v, -0)) ? LEVEL['-_']! : ATOM;
  }
  return LEVEL[node.op] ?? ATOM;
}

/** `node` as source, parenthesized unless its level is above `min`. */
function operand(node: ASTNode, min: number): string {
  const text = toSource(node);
  return levelOf(node) > min ? text : `(${text})`;
}

/** CEL source for `node` that parses back to the same expression. */
export function toSource(node: ASTNode): string {
  switch (node.op) {
    case 'value':
      return literal(node);
    case 'id':
      return node.args;
    case '.':
      return `${operand(node.args[0], ATOM - 1)}.${node.args[1]}`;
    case '.?':
      return `${operand(node.args[0], ATOM - 1)}.?${node.args[1]}`;
    case '[]':
      return `${operand(node.args[0], ATOM - 1)}[${toSource(node.args[1])}]`;
    case '[?]':
      return `${operand(node.args[0], ATOM - 1)}[?${toSource(node.args[1])}]`;
    case 'call':
      return `${node.args[0]}(${node.args[1].map(toSource).join(', ')})`;
    case 'rcall':
      return `${operand(node.args[1], ATOM - 1)}.${node.args[0]}(${node.args[2].map(toSource).join(', ')})`;
    case 'list':
      return `[${node.args.map(toSource).join(', ')}]`;
    case 'map':
      return `{${node.args.map(([k, v]) => `${toSource(k)}: ${toSource(v)}`).join(', ')}}`;
    case '!_':
      return `!${operand(node.args, LEVEL['!_']! - 1)}`;
    case '-_':
      return `-${operand(node.args, LEVEL['-_']! - 1)}`;
    case '?:': {
      const [cond, then, otherwise] = node.args;
      // `a ? b : c ? d : e` groups to the right; anything else at the ternary level needs parentheses.
      return `${operand(cond, 1)} ? ${operand(then, 1)} : ${toSource(otherwise)}`;
    }
    default: {
      const level = LEVEL[node.op] ?? ATOM;
      const [left, right] = node.args;
      // && and || are associative; + - and * / % group to the left, so only a left operand of
      // the same level may go bare. Relations never chain bare: `a == (b == c)` keeps its parentheses.
      const associative = node.op === '&&' || node.op === '||';
      const leftMin = level === LEVEL['==']! ? level : level - 1;
      const rightMin = associative ? level - 1 : level;
      return `${operand(left, leftMin)} ${node.op} ${operand(right, rightMin)}`;
    }
  }
}

// An escaped surrogate pair whose backslash is not itself escaped (`\\ud83d` in source is text).
const SURROGATE_PAIR = /(?<!\\)((?:\\\\)*)\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})/gi;

function literal(node: ASTNode): string {
  const v = node.args;
  if (typeof v === 'number') {
    // serialize() writes doubles with at most 9 decimals and `1e+300` as `1e+300.0`; String() is
    // exact, and double("…") reads any of its forms back exactly.
    // String(-0) is "0": the sign is written by hand (1.0 / -0.0 is -infinity).
    const celText = Object.is(v, -0) ? '-0.0' : v % 1 === 0 ? `${v}.0` : String(v);
    return /^-?[0-9]+\.[0-9]+$/.test(celText) && Number(celText) === v ? celText : `double("${String(v)}")`;
  }
  const text = serialize(node);
  if (typeof v !== 'string' || !text.includes('\\u')) return text;
  return text.replace(SURROGATE_PAIR, (_m, lead: string, hi: string, lo: string) => {
    const cp = 0x10000 + ((parseInt(hi, 16) - 0xd800) << 10) + (parseInt(lo, 16) - 0xdc00);
    return `${lead}\\U${cp.toString(16).padStart(8, '0')}`;
  });
}
