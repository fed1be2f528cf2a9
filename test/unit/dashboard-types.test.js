// The dashboard's script (admin/dashboard-script.ts) is served as written, plain JavaScript, so
// tsc never sees it: here the TypeScript compiler checks the served text as a JavaScript file in
// src/admin/, where its JSDoc `Doc` type resolves to the `/status` types (admin/status-types.ts).
// A field the script reads that the document does not have fails this test. Loose options: the
// rest of the script (DOM code, untyped helpers) is not what is checked.
import path from 'node:path';
import test from 'ava';
import ts from 'typescript';
import { DASHBOARD_SCRIPT } from '../../dist/admin/dashboard-script.js';
import { root } from '../helpers/e2e.js';

const FILE = path.join(root, 'src/admin/dashboard.served.js');

const OPTIONS = {
  allowJs: true,
  checkJs: true,
  noEmit: true,
  strict: false,
  noImplicitAny: false,
  skipLibCheck: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2023.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
  types: [],
};

/** The compiler's complaints about `text` as the JavaScript file FILE, one line each. */
function check(text) {
  const host = ts.createCompilerHost(OPTIONS);
  const { fileExists, readFile, getSourceFile } = host;
  const self = (f) => path.resolve(f) === FILE;
  host.fileExists = (f) => self(f) || fileExists.call(host, f);
  host.readFile = (f) => (self(f) ? text : readFile.call(host, f));
  host.getSourceFile = (f, language, ...rest) =>
    self(f) ? ts.createSourceFile(f, text, language) : getSourceFile.call(host, f, language, ...rest);
  const program = ts.createProgram([FILE], OPTIONS, host);
  const source = program.getSourceFile(FILE);
  return [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)].map((d) => {
    const { line } = source.getLineAndCharacterOfPosition(d.start ?? 0);
    return `line ${line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}

test('the dashboard script reads only fields the /status types have', (t) => {
  // A compiler program over the DOM's types and flagman's sources: seconds on a busy machine.
  t.timeout(180_000);
  t.deepEqual(check(DASHBOARD_SCRIPT), []);
  // The check has teeth: Doc is the document's type (not any), and a field it lacks is an error.
  const probe = `${DASHBOARD_SCRIPT}\n/** @param {Doc} doc */\nfunction probe(doc) { return [obj(doc.watcher).mode, obj(doc.watcher).modes]; }\n`;
  const errors = check(probe);
  t.is(errors.length, 1, errors.join('\n'));
  t.regex(errors[0], /Property 'modes' does not exist/);
});
