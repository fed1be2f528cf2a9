// Walking and rebuilding cel-js ASTs (`{op, args, pos, …}` nodes). Compile walks them to validate
// and to mark per-request nodes; specialize rebuilds them with flags substituted and constants
// folded, then writes the result as source (source.ts) and parses it again.

import type { ASTNode } from '@marcbachmann/cel-js';

/** The direct sub-expressions of `node`, in source order. */
export function childrenOf(node: ASTNode): readonly ASTNode[] {
  switch (node.op) {
    case 'value':
    case 'id':
      return [];
    case '.':
    case '.?':
      return [node.args[0]];
    case '!_':
    case '-_':
      return [node.args];
    case 'call':
      return node.args[1];
    case 'rcall':
      return [node.args[1], ...node.args[2]];
    case 'list':
      return node.args;
    case 'map':
      return node.args.flat();
    case '?:':
      return node.args;
    default:
      // Binary operators, `[]`, `[?]`, `&&`, `||`.
      return node.args;
  }
}

/** Calls `visit` on `node` and every node below it, parents first. */
export function walk(node: ASTNode, visit: (node: ASTNode) => void): void {
  visit(node);
  for (const child of childrenOf(node)) walk(child, visit);
}

/**
 * A node to be written as source: only `op` and `args` are read, so a plain object is enough. This
 * is the one place that builds nodes cel-js did not parse; they are never evaluated, only written.
 */
export function makeNode(op: ASTNode['op'], args: unknown): ASTNode {
  return { op, args } as unknown as ASTNode;
}

/**
 * The type cel-js's checker gave `node` (`bool`, `int`, `dyn`…), or undefined for a node it did not
 * check (one built here). check() leaves it on each node as `checkedType`, a field its typings do
 * not declare: one of the internals the exact pin of cel-js in package.json is for.
 */
export function checkedType(node: ASTNode): string | undefined {
  const type = (node as { checkedType?: { name?: unknown } }).checkedType;
  return typeof type?.name === 'string' ? type.name : undefined;
}

/** A literal node. */
export function valueNode(value: string | bigint | number | boolean): ASTNode {
  return makeNode('value', value);
}

/** `node` with each child replaced by `map(child)`; `node` itself when nothing changed. */
export function mapChildren(node: ASTNode, map: (child: ASTNode) => ASTNode): ASTNode {
  let changed = false;
  const m = (c: ASTNode): ASTNode => {
    const r = map(c);
    if (r !== c) changed = true;
    return r;
  };
  let args: unknown;
  switch (node.op) {
    case 'value':
    case 'id':
      return node;
    case '.':
    case '.?':
      args = [m(node.args[0]), node.args[1]];
      break;
    case '!_':
    case '-_':
      args = m(node.args);
      break;
    case 'call':
      args = [node.args[0], node.args[1].map(m)];
      break;
    case 'rcall':
      args = [node.args[0], m(node.args[1]), node.args[2].map(m)];
      break;
    case 'list':
      args = node.args.map(m);
      break;
    case 'map':
      args = node.args.map(([k, v]) => [m(k), m(v)]);
      break;
    default:
      args = node.args.map(m);
  }
  return changed ? makeNode(node.op, args) : node;
}
