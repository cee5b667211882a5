/*
** pgquery.c: libpg_query (PostgreSQL's parser) for the linter, and a comment finder.
** Pure C below the binding l_pgquery.c: no Lua here, no decisions about what a tree means.
*/
#include <stdlib.h>
#include <string.h>

#include <pg_query.h>

#include "pgquery.h"

struct mr_pgq_tree {
    PgQueryParseResult r;
};

/* libpg_query sets up its memory on the first call; pg_query_exit() before that crashes */
static int pgq_started = 0;

/* PostgreSQL reports cursor positions as 1-based character counts (the scanner works on the
** server encoding, UTF-8 for libpg_query); the linter maps bytes to lines and columns. */
static int char_to_byte(const char *s, int cursorpos)
{
    if (cursorpos <= 0)
        return -1;
    int chars = 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    for (; p[i] != '\0'; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            chars++;
            if (chars == cursorpos)
                return (int)i;
        }
    }
    return (int)i;
}

static void set_error(mr_pgq_error *err, const char *sql, const PgQueryError *e)
{
    err->message = e && e->message ? strdup(e->message) : NULL;
    err->cursor = e ? char_to_byte(sql, e->cursorpos) : -1;
}

void mr_pgq_error_clear(mr_pgq_error *err)
{
    free(err->message);
    err->message = NULL;
    err->cursor = -1;
}

int mr_pgq_split(const char *sql, mr_pgq_span **out, mr_pgq_error *err)
{
    *out = NULL;
    pgq_started = 1;
    PgQuerySplitResult r = pg_query_split_with_scanner(sql);
    if (r.error) {
        set_error(err, sql, r.error);
        pg_query_free_split_result(r);
        return -1;
    }
    int n = r.n_stmts;
    if (n > 0) {
        *out = malloc((size_t)n * sizeof **out);
        if (*out == NULL) {
            pg_query_free_split_result(r);
            err->message = NULL;
            err->cursor = -1;
            return -1;
        }
        for (int i = 0; i < n; i++)
            (*out)[i] = (mr_pgq_span){r.stmts[i]->stmt_location, r.stmts[i]->stmt_len};
    }
    pg_query_free_split_result(r);
    return n;
}

mr_pgq_tree *mr_pgq_parse(const char *sql, mr_pgq_error *err)
{
    mr_pgq_tree *t = malloc(sizeof *t);
    if (t == NULL) {
        err->message = NULL;
        err->cursor = -1;
        return NULL;
    }
    pgq_started = 1;
    t->r = pg_query_parse(sql);
    if (t->r.error || t->r.parse_tree == NULL) {
        set_error(err, sql, t->r.error);
        mr_pgq_tree_free(t);
        return NULL;
    }
    return t;
}

const char *mr_pgq_tree_json(const mr_pgq_tree *t)
{
    return t->r.parse_tree;
}

void mr_pgq_tree_free(mr_pgq_tree *t)
{
    if (t == NULL)
        return;
    pg_query_free_parse_result(t->r);
    free(t);
}

void mr_pgq_exit(void)
{
    if (pgq_started)
        pg_query_exit();
    pgq_started = 0;
}

static int ident_char(unsigned char c)
{
    return c == '_' || c == '$' || c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

static int ident_start(unsigned char c)
{
    return c == '_' || c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* At s[i] == '-' or '/': the end of the comment starting there, or i when none starts; *open
** set when it is a block comment the input ends inside of. */
static size_t block_or_line_end(const char *s, size_t i, size_t len, int *open)
{
    *open = 0;
    if (i + 1 < len && s[i] == '-' && s[i + 1] == '-') {
        const char *nl = memchr(s + i, '\n', len - i);
        return nl ? (size_t)(nl - s) : len;
    }
    if (i + 1 < len && s[i] == '/' && s[i + 1] == '*') {
        int depth = 1;                  /* PostgreSQL's block comments nest */
        size_t j = i + 2;
        while (j < len && depth > 0) {
            if (j + 1 < len && s[j] == '*' && s[j + 1] == '/') {
                depth--;
                j += 2;
            } else if (j + 1 < len && s[j] == '/' && s[j + 1] == '*') {
                depth++;
                j += 2;
            } else {
                j++;
            }
        }
        *open = depth > 0;
        return j;
    }
    return i;
}

/* At s[i] == '-' or '/': the end of the comment starting there, or i when none starts. */
static size_t comment_end(const char *s, size_t i, size_t len)
{
    int open;
    return block_or_line_end(s, i, len, &open);
}
/* At a quote character: the index after the literal (escaped quotes are doubled; E'' strings
** also take backslashes). */
static size_t quoted_end(const char *s, size_t i, size_t len, int backslashes)
{
    char q = s[i];
    size_t j = i + 1;
    while (j < len) {
        if (backslashes && s[j] == '\\') {
            j += 2;
        } else if (s[j] == q) {
            if (j + 1 < len && s[j + 1] == q)
                j += 2;
            else
                return j + 1;
        } else {
            j++;
        }
    }
    return len;
}

/* At '$' not inside an identifier: the index after a dollar-quoted body, or i when the '$'
** opens no tag ($1 is a parameter). */
static size_t dollar_end(const char *s, size_t i, size_t len)
{
    size_t j = i + 1;
    if (j < len && ident_start((unsigned char)s[j])) {
        while (j < len && s[j] != '$' && ident_char((unsigned char)s[j]))
            j++;
    }
    if (j >= len || s[j] != '$')
        return i;
    size_t taglen = j + 1 - i;
    for (size_t k = j + 1; k + taglen <= len; k++) {
        if (s[k] == '$' && memcmp(s + k, s + i, taglen) == 0)
            return k + taglen;
    }
    return len;
}

/* At s[i]: the end of the string, quoted identifier or dollar-quoted text that starts there
** (a '$' that opens none is passed over alone), or i when none starts there. */
static size_t literal_end(const char *s, size_t i, size_t len)
{
    unsigned char c = (unsigned char)s[i];
    if (c == '\'') {
        /* E'..' takes backslash escapes; 'e' must stand alone, not end an identifier */
        int esc = i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e') &&
                  !(i > 1 && ident_char((unsigned char)s[i - 2]));
        return quoted_end(s, i, len, esc);
    }
    if (c == '"')
        return quoted_end(s, i, len, 0);
    if (c == '$' && !(i > 0 && ident_char((unsigned char)s[i - 1]))) {
        size_t e = dollar_end(s, i, len);
        return e == i ? i + 1 : e;
    }
    return i;
}

int mr_pgq_comments(const char *s, size_t len, mr_pgq_span **out)
{
    size_t cap = 0;
    int n = 0;
    *out = NULL;
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c == '-' || c == '/') {
            size_t e = comment_end(s, i, len);
            if (e == i) {
                i++;
                continue;
            }
            if ((size_t)n == cap) {
                cap = cap ? cap * 2 : 16;
                mr_pgq_span *grown = realloc(*out, cap * sizeof **out);
                if (grown == NULL) {
                    free(*out);
                    *out = NULL;
                    return -1;
                }
                *out = grown;
            }
            (*out)[n++] = (mr_pgq_span){(int)i, (int)(e - i)};
            i = e;
        } else {
            size_t e = literal_end(s, i, len);
            i = e == i ? i + 1 : e;
        }
    }
    return n;
}

/* Append {pos, len} to *out (n used of *cap); -1 when memory ran out (*out freed). */
static int push_span(mr_pgq_span **out, int n, size_t *cap, size_t pos, size_t len)
{
    if ((size_t)n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        mr_pgq_span *grown = realloc(*out, *cap * sizeof **out);
        if (grown == NULL) {
            free(*out);
            *out = NULL;
            return -1;
        }
        *out = grown;
    }
    (*out)[n] = (mr_pgq_span){(int)pos, (int)len};
    return 0;
}

int mr_pgq_cut(const char *s, size_t len, mr_pgq_span **out)
{
    size_t cap = 0, start = 0, i = 0;
    int n = 0, depth = 0, token = 0;
    *out = NULL;
    for (;;) {
        if (i >= len || (s[i] == ';' && depth == 0)) {
            size_t end = i < len ? i : len;
            if (token && push_span(out, n++, &cap, start, end - start) < 0)
                return -1;
            if (i >= len)
                return n;
            start = ++i;
            token = 0;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            i++;
            continue;
        }
        if (c == '-' || c == '/') {
            int open;
            size_t e = block_or_line_end(s, i, len, &open);
            if (e != i) {
                token |= open;          /* an unterminated comment is for the parser to refuse */
                i = e;
                continue;
            }
        }
        token = 1;
        size_t e = literal_end(s, i, len);
        if (e != i) {
            i = e;
        } else {
            if (c == '(')
                depth++;
            else if (c == ')' && depth > 0)
                depth--;
            i++;
        }
    }
}

size_t mr_pgq_skip_blank(const char *s, size_t pos, size_t end)
{
    while (pos < end) {
        unsigned char c = (unsigned char)s[pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            pos++;
            continue;
        }
        size_t e = comment_end(s, pos, end);
        if (e == pos)
            break;
        pos = e;
    }
    return pos;
}
