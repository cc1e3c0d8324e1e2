import { FairmindError } from '@fairmind/core';
import { describe, expect, it } from 'vitest';
import { compile, SqlStatement, sql } from './index.js';

describe('sql tag and compile()', () => {
  it('turns every interpolated value into a numbered parameter on PostgreSQL', () => {
    const statement = sql`select * from users where id = ${7} and email = ${'a@b.c'}`;
    expect(compile(statement, 'postgres')).toEqual({
      text: 'select * from users where id = $1 and email = $2',
      values: [7, 'a@b.c'],
    });
  });

  it('turns every interpolated value into a ? parameter on SQLite', () => {
    const statement = sql`select * from users where id = ${7} and email = ${'a@b.c'}`;
    expect(compile(statement, 'sqlite')).toEqual({
      text: 'select * from users where id = ? and email = ?',
      values: [7, 'a@b.c'],
    });
  });

  it('passes values of every type through unchanged, in order', () => {
    const date = new Date('2024-01-02T03:04:05.000Z');
    const buffer = Buffer.from([1, 2, 3]);
    const json = { a: [1, 2] };
    const statement = sql`values (${null}, ${undefined}, ${true}, ${1.5}, ${10n}, ${date}, ${buffer}, ${json})`;
    const { text, values } = compile(statement, 'postgres');
    expect(text).toBe('values ($1, $2, $3, $4, $5, $6, $7, $8)');
    expect(values).toEqual([null, undefined, true, 1.5, 10n, date, buffer, json]);
    expect(values[6]).toBe(buffer);
  });

  it('numbers parameters across nested fragments in order', () => {
    const filter = sql`status = ${'open'} and owner = ${42}`;
    const order = sql`order by ${sql.id('created_at')} ${sql.raw('desc')}`;
    const statement = sql`select * from ${sql.id('app', 'tickets')} where ${filter} and id > ${5} ${order} limit ${10}`;
    expect(compile(statement, 'postgres')).toEqual({
      text: 'select * from "app"."tickets" where status = $1 and owner = $2 and id > $3 order by "created_at" desc limit $4',
      values: ['open', 42, 5, 10],
    });
    expect(compile(statement, 'sqlite')).toEqual({
      text: 'select * from "app"."tickets" where status = ? and owner = ? and id > ? order by "created_at" desc limit ?',
      values: ['open', 42, 5, 10],
    });
  });

  it('nests fragments several levels deep', () => {
    const inner = sql`x = ${1}`;
    const middle = sql`(${inner} or y = ${2})`;
    const outer = sql`select 1 where ${middle} and z = ${3}`;
    expect(compile(outer, 'postgres')).toEqual({
      text: 'select 1 where (x = $1 or y = $2) and z = $3',
      values: [1, 2, 3],
    });
  });

  it('compiles the same statement object for both dialects independently', () => {
    const statement = sql`select ${1}, ${2}`;
    expect(compile(statement, 'postgres').text).toBe('select $1, $2');
    expect(compile(statement, 'sqlite').text).toBe('select ?, ?');
    expect(compile(statement, 'postgres').text).toBe('select $1, $2');
  });

  it('keeps SQL-injection-looking values as parameters, never as text', () => {
    const evil = "'; drop table users; --";
    const statement = sql`select * from users where name = ${evil}`;
    for (const dialect of ['postgres', 'sqlite'] as const) {
      const { text, values } = compile(statement, dialect);
      expect(text).not.toContain('drop table');
      expect(values).toEqual([evil]);
    }
    const listed = compile(
      sql`select * from t where id in (${sql.list([evil, '1 or 1=1'])})`,
      'sqlite',
    );
    expect(listed).toEqual({
      text: 'select * from t where id in (?, ?)',
      values: [evil, '1 or 1=1'],
    });
  });

  it('a value that looks like a placeholder stays a value', () => {
    const { text, values } = compile(sql`select ${'$1'}, ${'?'}`, 'postgres');
    expect(text).toBe('select $1, $2');
    expect(values).toEqual(['$1', '?']);
  });

  describe('sql.id', () => {
    it('quotes identifiers and doubles embedded quotes', () => {
      const { text, values } = compile(
        sql`select * from ${sql.id('we"ird', 'ta ble')}`,
        'postgres',
      );
      expect(text).toBe('select * from "we""ird"."ta ble"');
      expect(values).toEqual([]);
    });

    it('keeps an injection attempt inside the quoted name', () => {
      const { text } = compile(
        sql`select * from ${sql.id('users"; drop table users; --')}`,
        'sqlite',
      );
      expect(text).toBe('select * from "users""; drop table users; --"');
    });

    it('refuses no parts or an empty part', () => {
      expect(() => sql.id()).toThrow(FairmindError);
      expect(() => sql.id('')).toThrow(/non-empty/);
      expect(() => sql.id('a', '')).toThrow(/non-empty/);
    });
  });

  describe('sql.list', () => {
    it('makes one parameter per value', () => {
      const statement = sql`select * from t where id in (${sql.list([1, 2, 3])}) and k = ${'x'}`;
      expect(compile(statement, 'postgres')).toEqual({
        text: 'select * from t where id in ($1, $2, $3) and k = $4',
        values: [1, 2, 3, 'x'],
      });
      expect(compile(statement, 'sqlite').text).toBe(
        'select * from t where id in (?, ?, ?) and k = ?',
      );
    });

    it('handles a single value', () => {
      expect(compile(sql`in (${sql.list(['a'])})`, 'postgres')).toEqual({
        text: 'in ($1)',
        values: ['a'],
      });
    });

    it('refuses an empty list', () => {
      expect(() => sql.list([])).toThrow(FairmindError);
      expect(() => sql.list([])).toThrow(/at least one value/);
    });

    it('accepts fragments as elements (rows of a VALUES list)', () => {
      const rows = sql.list([sql`(${1}, ${'a'})`, sql`(${2}, ${'b'})`]);
      expect(compile(sql`insert into t (id, name) values ${rows}`, 'postgres')).toEqual({
        text: 'insert into t (id, name) values ($1, $2), ($3, $4)',
        values: [1, 'a', 2, 'b'],
      });
    });
  });

  describe('sql.join', () => {
    it('joins fragments with ", " by default', () => {
      const columns = sql.join([sql`${sql.id('a')} = ${1}`, sql`${sql.id('b')} = ${2}`]);
      expect(compile(sql`update t set ${columns} where id = ${3}`, 'postgres')).toEqual({
        text: 'update t set "a" = $1, "b" = $2 where id = $3',
        values: [1, 2, 3],
      });
    });

    it('takes a separator fragment', () => {
      const where = sql.join([sql`a = ${1}`, sql`b = ${2}`, sql`c = ${3}`], sql` and `);
      expect(compile(sql`select 1 where ${where}`, 'sqlite')).toEqual({
        text: 'select 1 where a = ? and b = ? and c = ?',
        values: [1, 2, 3],
      });
    });

    it('gives an empty fragment for no parts', () => {
      expect(compile(sql`select 1${sql.join([])}`, 'postgres')).toEqual({
        text: 'select 1',
        values: [],
      });
    });
  });

  it('sql.raw splices trusted text and sql.empty adds nothing', () => {
    const direction = 'asc';
    const statement = sql`select * from t${sql.empty} order by id ${sql.raw(direction)} limit ${1}`;
    expect(compile(statement, 'postgres')).toEqual({
      text: 'select * from t order by id asc limit $1',
      values: [1],
    });
  });

  it('SqlStatement checks its shape', () => {
    expect(() => new SqlStatement(['a', 'b'], [])).toThrow(TypeError);
    expect(compile(new SqlStatement(['select ', ''], [1]), 'sqlite')).toEqual({
      text: 'select ?',
      values: [1],
    });
  });
});
