import { readFileSync } from 'node:fs';
import ts from 'typescript';

/**
 * Every optional property of the exported interface `name` in `file` set to `undefined`, read
 * from the source so that an option added later is covered without editing the test. Users
 * with `exactOptionalPropertyTypes` pass env values straight through (`{ secret:
 * process.env.JWT_SECRET }`), so each factory must treat a key given as `undefined` exactly
 * as one left out.
 */
export function undefinedOptions(file: string | URL, name: string): Record<string, undefined> {
  const path = file instanceof URL ? file : new URL(`file://${file}`);
  const source = ts.createSourceFile(
    path.pathname,
    readFileSync(path, 'utf8'),
    ts.ScriptTarget.Latest,
    true,
  );
  const found = source.statements.find(
    (node): node is ts.InterfaceDeclaration =>
      ts.isInterfaceDeclaration(node) && node.name.text === name,
  );
  if (found === undefined) throw new Error(`undefinedOptions: no interface ${name} in ${path}`);
  const options: Record<string, undefined> = {};
  for (const member of found.members) {
    if (ts.isPropertySignature(member) && member.questionToken && ts.isIdentifier(member.name)) {
      options[member.name.text] = undefined;
    }
  }
  if (Object.keys(options).length === 0)
    throw new Error(`undefinedOptions: ${name} has no optional property`);
  return options;
}
