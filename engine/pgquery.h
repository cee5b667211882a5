/*
** pgquery.h: PostgreSQL's own parser (libpg_query, the PostgreSQL 15 grammar) for the linter.
** Mechanism only, pure C: split a script into statements, parse one into libpg_query's JSON
** tree, find the comments. The binding (l_pgquery.c) turns the JSON into Lua tables.
*/
#ifndef MR_PGQUERY_H
#define MR_PGQUERY_H

#include <stddef.h>

/* A byte range of the input: pos is 0-based, len in bytes. */
typedef struct {
    int pos;
    int len;
} mr_pgq_span;

/* A parser or scanner error: message malloc'd (NULL when none), cursor the 0-based byte
** offset in the parsed text (-1 when the parser gave none). */
typedef struct {
    char *message;
    int cursor;
} mr_pgq_error;

typedef struct mr_pgq_tree mr_pgq_tree;   /* owns one parse result */

/* The statements of sql (NUL-terminated), by PostgreSQL's scanner: each span runs from the
** end of the previous statement (so it may start with blanks and comments) to its last byte.
** Returns the count and a malloc'd array in *out (NULL when 0); -1 with err filled on error. */
int mr_pgq_split(const char *sql, mr_pgq_span **out, mr_pgq_error *err);

/* The statements of sql[0..len) as one quick pass over it cuts them: at each semicolon outside
** parentheses, string literals, quoted identifiers, dollar quotes and comments; a piece with
** nothing but blanks and comments is none. Spans as mr_pgq_split's (the same for the scripts
** the parser accepts, bar BEGIN ATOMIC bodies and the like, where both cut wrongly); a parse
** of them is checked, not trusted. Returns the count and a malloc'd array in *out (NULL when
** 0), or -1 when memory ran out. */
int mr_pgq_cut(const char *sql, size_t len, mr_pgq_span **out);

/* Parse sql (NUL-terminated) with the raw parser. Returns the tree, or NULL with err filled
** (message NULL too when memory ran out). */
mr_pgq_tree *mr_pgq_parse(const char *sql, mr_pgq_error *err);

/* The tree as libpg_query's JSON ({"version":..,"stmts":[...]}); owned by t. */
const char *mr_pgq_tree_json(const mr_pgq_tree *t);

void mr_pgq_tree_free(mr_pgq_tree *t);
void mr_pgq_error_clear(mr_pgq_error *err);

/* The comments of sql[0..len) (-- to the end of the line, nested slash-star blocks), skipping
** string literals, quoted identifiers and dollar quotes. Returns the count and a malloc'd
** array in *out (NULL when 0), or -1 when memory ran out. An unterminated block comment runs
** to the end. */
int mr_pgq_comments(const char *sql, size_t len, mr_pgq_span **out);

/* Free libpg_query's per-thread memory, if it was ever set up (at exit only). */
void mr_pgq_exit(void);

/* The first byte at or after pos (and before end) that is neither blank nor in a comment. */
size_t mr_pgq_skip_blank(const char *sql, size_t pos, size_t end);

#endif
