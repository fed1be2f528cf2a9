// Direct residuals: a residual made only of string tests on the request, joined by &&, || and !,
// becomes a JavaScript closure, built once per flag snapshot, instead of a tree cel-js walks for
// every request (about 1 µs per rule in isolation, several in the proxy, where its call sites see
// every node type: bench/RESULTS.md).
//
// What qualifies: string operands (request.method/path/query/host/scheme/peer, client.ip, header("…"),
// cookie("…") with a literal name, string literals) under ==, !=, `in` a list of string literals,
// startsWith/endsWith/contains, and cidr("…").containsIP(…). None of these can fail at run time:
// every operand is a string by construction. So CEL's && and ||, which absorb errors in either
// order, agree with JavaScript's short-circuit ones, and the closure gives exactly what cel-js
// would. Anything else (matches(), size(), numbers, ?:, comprehensions …) makes the whole residual
// go to cel-js as before: directTest() returns null.

import type { ASTNode } from '@marcbachmann/cel-js';
import { literalString } from './environment.js';
import { Cidr } from './ip.js';
import { cookieOf, headerOf, requestHost, requestPath, requestQuery } from './request.js';
import type { RequestInput } from './request.js';

type Test = (input: RequestInput) => boolean;
type Text = (input: RequestInput) => string;

const REQUEST_FIELDS: Readonly<Record<string, Text>> = {
  method: (input) => input.method,
  path: requestPath,
  query: requestQuery,
  host: requestHost,
  scheme: (input) => input.scheme,
  peer: (input) => input.peer,
};

const clientIp: Text = (input) => input.clientIp;

/** The residual as a closure, or null when any part of it is outside the subset above. */
export function directTest(node: ASTNode): Test | null {
  switch (node.op) {
    case 'value':
      if (typeof node.args !== 'boolean') return null;
      return node.args ? () => true : () => false;
    case '&&':
    case '||': {
      const [l, r] = node.args as [ASTNode, ASTNode];
      const left = directTest(l);
      const right = left && directTest(r);
      if (left === null || right === null) return null;
      return node.op === '&&' ? (input) => left(input) && right(input) : (input) => left(input) || right(input);
    }
    case '!_': {
      const inner = directTest(node.args as ASTNode);
      return inner === null ? null : (input) => !inner(input);
    }
    case '==':
    case '!=': {
      const [l, r] = node.args as [ASTNode, ASTNode];
      return compare(node.op, l, r);
    }
    case 'in': {
      const [l, r] = node.args as [ASTNode, ASTNode];
      const text = directText(l);
      if (text === null || r.op !== 'list') return null;
      const items = (r.args as ASTNode[]).map(literalString);
      if (items.some((item) => item === undefined)) return null;
      const set = new Set(items as string[]);
      return (input) => set.has(text(input));
    }
    case 'rcall':
      return method(node);
    default:
      return null;
  }
}

// A literal on either side is the common case (`request.host == "x"`): compared without a call.
function compare(op: '==' | '!=', l: ASTNode, r: ASTNode): Test | null {
  const equal = op === '==';
  const lit = literalString(r) ?? literalString(l);
  const other = literalString(r) !== undefined ? l : r;
  if (lit !== undefined && literalString(other) === undefined) {
    const text = directText(other);
    if (text === null) return null;
    return equal ? (input) => text(input) === lit : (input) => text(input) !== lit;
  }
  const left = directText(l);
  const right = left && directText(r);
  if (left === null || right === null) return null;
  return equal ? (input) => left(input) === right(input) : (input) => left(input) !== right(input);
}

function method(node: ASTNode): Test | null {
  const [name, receiver, args] = node.args as [string, ASTNode, ASTNode[]];
  if (args.length !== 1) return null;
  const arg = directText(args[0]!);
  if (arg === null) return null;
  if (name === 'containsIP') {
    // cidr("…") with a literal block: compile.ts has parsed it already, so this parse succeeds.
    if (receiver.op !== 'call' || (receiver.args as [string, ASTNode[]])[0] !== 'cidr') return null;
    const text = literalString((receiver.args as [string, ASTNode[]])[1][0]);
    const block = text === undefined ? null : Cidr.parse(text);
    if (!(block instanceof Cidr)) return null;
    return (input) => block.containsIP(arg(input));
  }
  const on = directText(receiver);
  if (on === null) return null;
  const lit = literalString(args[0]);
  switch (name) {
    case 'startsWith':
      return lit !== undefined ? (input) => on(input).startsWith(lit) : (input) => on(input).startsWith(arg(input));
    case 'endsWith':
      return lit !== undefined ? (input) => on(input).endsWith(lit) : (input) => on(input).endsWith(arg(input));
    case 'contains':
      return lit !== undefined ? (input) => on(input).includes(lit) : (input) => on(input).includes(arg(input));
    default:
      return null;
  }
}

/** A string-valued part of the request as a closure, or null when `node` is not one (a rate-limit key uses it whole). */
export function directText(node: ASTNode): Text | null {
  switch (node.op) {
    case 'value': {
      const text = literalString(node);
      return text === undefined ? null : () => text;
    }
    case '.': {
      const [target, field] = node.args as [ASTNode, string];
      if (target.op !== 'id') return null;
      if (target.args === 'request') return Object.hasOwn(REQUEST_FIELDS, field) ? REQUEST_FIELDS[field]! : null;
      if (target.args === 'client' && field === 'ip') return clientIp;
      return null;
    }
    case 'call': {
      const [name, args] = node.args as [string, ASTNode[]];
      const lit = args.length === 1 ? literalString(args[0]) : undefined;
      if (lit === undefined) return null;
      if (name === 'header') return (input) => headerOf(input, lit);
      if (name === 'cookie') return (input) => cookieOf(input, lit);
      return null;
    }
    default:
      return null;
  }
}
