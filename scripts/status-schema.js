// `npm run schema`: docs/status.schema.json, the JSON Schema of the `/status` document, generated
// from its TypeScript types (src/admin/status-types.ts) so that the published schema and the code
// cannot say different things; test/unit/status-schema.test.js fails when the committed file is not
// what the types give now. Objects are closed (additionalProperties false) unless they are maps
// keyed by names, whose values have a schema of their own.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createGenerator } from 'ts-json-schema-generator';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where the schema is published. */
export const SCHEMA_FILE = path.join(root, 'docs/status.schema.json');

/** The schema of StatusDocument, as the types describe it now. */
export function statusSchema() {
  return createGenerator({
    path: path.join(root, 'src/admin/status-types.ts'),
    tsconfig: path.join(root, 'tsconfig.json'),
    type: 'StatusDocument',
    expose: 'export',
    topRef: true,
    jsDoc: 'extended',
    additionalProperties: false,
    sortProps: true,
  }).createSchema('StatusDocument');
}

/** The file's text: two-space JSON and a final newline. */
export const schemaText = (schema) => `${JSON.stringify(schema, null, 2)}\n`;

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  fs.writeFileSync(SCHEMA_FILE, schemaText(statusSchema()));
  console.log(`wrote ${path.relative(root, SCHEMA_FILE)}`);
}
