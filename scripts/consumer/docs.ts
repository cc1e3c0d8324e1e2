import { readFileSync } from 'node:fs';

/** One ```ts block of a Markdown file, ready to compile as a module of its own. */
export interface DocBlock {
  /** The Markdown file, as given. */
  readonly file: string;
  /** The line of the opening fence, 1-based. */
  readonly line: number;
  /** Lines the checker puts before the code: a `<!-- prelude ... -->` comment's body. */
  readonly prelude: readonly string[];
  readonly code: readonly string[];
}

const FENCE = /^```(ts|typescript)\s*$/;

/**
 * The TypeScript blocks of a Markdown file. A fragment that uses names it does not declare
 * (`auth`, `logger`) gets them from an HTML comment right above its fence, which readers of the
 * rendered page do not see:
 *
 *     <!-- prelude
 *     import { createLogger } from '@fairmind/core/logger';
 *     const logger = createLogger();
 *     -->
 *     ```ts
 */
export function docBlocks(file: string): DocBlock[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  for (let index = 0; index < lines.length; index++) {
    if (!FENCE.test(lines[index] ?? '')) continue;
    const fence = index;
    const code: string[] = [];
    for (index++; index < lines.length && !(lines[index] ?? '').startsWith('```'); index++) {
      code.push(lines[index] ?? '');
    }
    blocks.push({ file, line: fence + 1, prelude: preludeAbove(lines, fence), code });
  }
  return blocks;
}

function preludeAbove(lines: readonly string[], fence: number): string[] {
  if (lines[fence - 1]?.trim() !== '-->') return [];
  for (let start = fence - 2; start >= 0; start--) {
    const line = (lines[start] ?? '').trim();
    if (line === '<!-- prelude') return lines.slice(start + 1, fence - 1);
    if (line.startsWith('<!--') || line.startsWith('```')) break;
  }
  throw new Error(`the comment above the block at line ${fence + 1} is not a <!-- prelude --> one`);
}

/** The block as a module: `export {}` keeps blocks without imports out of the global scope. */
export function moduleSource(block: DocBlock): string {
  return [`// ${block.file}:${block.line}`, ...block.prelude, ...block.code, 'export {};', ''].join(
    '\n',
  );
}

/** Where a line of {@link moduleSource}'s output comes from, for error messages. */
export function sourceLine(block: DocBlock, generatedLine: number): string {
  const inBlock = generatedLine - 1 - block.prelude.length;
  if (inBlock >= 1 && inBlock <= block.code.length) return `${block.file}:${block.line + inBlock}`;
  return `${block.file}:${block.line} (its prelude)`;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/[^\p{Letter}\p{Number} -]/gu, '')
    .replace(/ /g, '-');
}

/**
 * Links in `file` that point nowhere: a relative path to a file that does not exist, or an
 * anchor no heading of the target makes. Guides drift from the repository the way code
 * blocks drift from the API; this catches the first, the compile catches the second.
 */
export function brokenLinks(file: string, exists: (path: string) => boolean): string[] {
  const text = readFileSync(file, 'utf8');
  const outsideCode = text.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  const broken: string[] = [];
  for (const match of outsideCode.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = match[1] as string;
    if (/^[a-z]+:/i.test(target)) continue;
    const [path, anchor] = target.split('#') as [string, string | undefined];
    const resolved = path === '' ? file : new URL(path, `file://${file}`).pathname;
    if (!exists(resolved)) {
      broken.push(`${target} (no such file)`);
      continue;
    }
    if (anchor === undefined || !resolved.endsWith('.md')) continue;
    const headings = readFileSync(resolved, 'utf8')
      .replace(/```[\s\S]*?```/g, '')
      .split('\n')
      .filter((line) => /^#{1,6} /.test(line))
      .map((line) => anchorOf(line.replace(/^#+ /, '')));
    if (!headings.includes(anchor)) broken.push(`${target} (no such heading)`);
  }
  return broken;
}
