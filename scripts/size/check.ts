// Size rules a reviewer would otherwise count by hand (issue 14), checked on every `pnpm test`:
//   - each framework adapter is a bridge: its source is at most 300 lines of code;
//   - no function in a package's source runs over 80 lines of code, unless a comment right
//     above it says why (a line containing `long function:`).
// A line of code is a line on which a token starts: blank lines, comments and JSDoc do not
// count, so documenting a public export never pushes a file over its limit. TypeScript's own
// scanner decides what is a comment, so a `//` inside a string or a template is code.
//
//   pnpm check:size
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ADAPTERS = ['express', 'fastify', 'hono', 'node'];
const ADAPTER_LIMIT = 300;
const FUNCTION_LIMIT = 80;
const REASON = /long function:/i;

function sourceFiles(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...sourceFiles(path));
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts')) {
      found.push(path);
    }
  }
  return found;
}

/** The 0-based lines on which a token starts: comments, JSDoc and blank lines have none. */
function codeLines(source: ts.SourceFile): Set<number> {
  const lines = new Set<number>();
  const visit = (node: ts.Node): void => {
    if (node.kind >= ts.SyntaxKind.FirstJSDocNode && node.kind <= ts.SyntaxKind.LastJSDocNode) {
      return;
    }
    if (node.kind === ts.SyntaxKind.EndOfFileToken) return;
    // The AST, not a bare scanner, gives the tokens: it knows templates and regular
    // expressions. A leaf is a token; a multi-line string or template is code on every line.
    if (node.getChildCount(source) === 0) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      for (let line = first; line <= last; line++) lines.add(line);
      return;
    }
    for (const child of node.getChildren(source)) visit(child);
  };
  visit(source);
  return lines;
}

function countBetween(lines: Set<number>, first: number, last: number): number {
  let count = 0;
  for (let line = first; line <= last; line++) if (lines.has(line)) count++;
  return count;
}

function parse(path: string): ts.SourceFile {
  return ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
}

const problems: string[] = [];

console.log(`adapter source, lines of code (limit ${ADAPTER_LIMIT}):`);
for (const adapter of ADAPTERS) {
  let code = 0;
  let physical = 0;
  for (const path of sourceFiles(join(root, 'packages', adapter, 'src'))) {
    const source = parse(path);
    code += codeLines(source).size;
    physical += source.getLineStarts().length - (source.text.endsWith('\n') ? 1 : 0);
  }
  console.log(`  @fairmind/${adapter}: ${code} (${physical} lines with comments and blanks)`);
  if (code > ADAPTER_LIMIT) {
    problems.push(
      `@fairmind/${adapter} has ${code} lines of code, over ${ADAPTER_LIMIT}: an adapter only ` +
        'bridges; move what is not about this framework to @fairmind/core/adapter or edge.',
    );
  }
}

function functionName(node: ts.Node, source: ts.SourceFile): string {
  const named = node as ts.Node & { name?: ts.Node };
  if (named.name) return named.name.getText(source);
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) {
    return parent.name.getText(source);
  }
  return '(anonymous)';
}

function hasReason(node: ts.Node, source: ts.SourceFile): boolean {
  // The comment may sit above the function or above the statement that holds it.
  for (let at: ts.Node | undefined = node; at && !ts.isSourceFile(at); at = at.parent) {
    const comments = ts.getLeadingCommentRanges(source.text, at.getFullStart()) ?? [];
    if (comments.some((range) => REASON.test(source.text.slice(range.pos, range.end)))) {
      return true;
    }
    if (ts.isBlock(at.parent) || ts.isSourceFile(at.parent) || ts.isClassLike(at.parent)) break;
  }
  return false;
}

let longest = { name: '', lines: 0 };
for (const dir of readdirSync(join(root, 'packages')).sort()) {
  const src = join(root, 'packages', dir, 'src');
  let files: string[];
  try {
    files = sourceFiles(src);
  } catch {
    continue;
  }
  for (const path of files) {
    const source = parse(path);
    const lines = codeLines(source);
    const visit = (node: ts.Node): void => {
      if (ts.isFunctionLike(node) && 'body' in node && node.body) {
        const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
        const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
        const count = countBetween(lines, first, last);
        const name = `${relative(root, path)}:${first + 1} ${functionName(node, source)}`;
        if (count > longest.lines) longest = { name, lines: count };
        if (count > FUNCTION_LIMIT && !hasReason(node, source)) {
          problems.push(
            `${name} has ${count} lines of code, over ${FUNCTION_LIMIT}: split it, or say why ` +
              'it stays whole in a comment above it that contains "long function:".',
          );
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
}
console.log(`longest function: ${longest.name} (${longest.lines} lines of code)`);

if (problems.length > 0) {
  for (const problem of problems) console.error(`check:size: ${problem}`);
  process.exit(1);
}
console.log('check:size: ok');
