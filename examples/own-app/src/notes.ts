// The domain: notes and their SQL. Nothing here knows about HTTP, tokens or caching.
import { randomUUID } from 'node:crypto';
import { type Database, sql } from '@fairmind/db-pool';
import { type CursorPosition, type Page, toPage } from '@fairmind/edge';
import { z } from 'zod';

export const NoteInput = z
  .object({
    title: z.string().trim().min(1).max(200),
    body: z.string().max(10_000).default(''),
  })
  .strict();

export interface Note {
  id: string;
  title: string;
  body: string;
  createdAt: string;
}

export function createNotes(db: Database) {
  return {
    async create(ownerId: string, input: z.infer<typeof NoteInput>): Promise<Note> {
      const note = { id: randomUUID(), ...input, createdAt: new Date().toISOString() };
      await db.query(sql`insert into notes (id, owner_id, title, body, created_at)
        values (${note.id}, ${ownerId}, ${note.title}, ${note.body}, ${note.createdAt})`);
      return note;
    },

    async list(ownerId: string, limit: number, after?: CursorPosition): Promise<Page<Note>> {
      const rows = await db.many<{ id: string; title: string; body: string; created_at: string }>(
        after === undefined
          ? sql`select id, title, body, created_at from notes where owner_id = ${ownerId}
                order by created_at desc, id desc limit ${limit + 1}`
          : sql`select id, title, body, created_at from notes where owner_id = ${ownerId}
                  and (created_at < ${after.createdAt}
                       or (created_at = ${after.createdAt} and id < ${after.id}))
                order by created_at desc, id desc limit ${limit + 1}`,
      );
      const notes = rows.map(({ created_at, ...row }) => ({ ...row, createdAt: created_at }));
      return toPage(notes, limit);
    },

    async remove(ownerId: string, id: string): Promise<boolean> {
      const { rowCount } = await db.query(
        sql`delete from notes where id = ${id} and owner_id = ${ownerId}`,
      );
      return rowCount > 0;
    },
  };
}

export type Notes = ReturnType<typeof createNotes>;
