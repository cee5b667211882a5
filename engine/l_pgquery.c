/*
** l_pgquery.c: migrun.core.pgquery, PostgreSQL's parser handed to Lua as parse trees.
** Binding layer over pgquery.c: splits, parses one statement at a time, and decodes
** libpg_query's JSON straight into Lua tables. Which tree is dangerous is lua/migrun/lint/.
*/
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "l_mr.h"
#include "mr.h"
#include "pgquery.h"

#define MR_PGQ_MT "migrun.pgquery"
#define MAX_DEPTH 2000

/* One statement: where its node is in its parse's JSON, and where it is in the input. */
typedef struct {
    const char *json;       /* {"XxxStmt": {...}} inside the tree's JSON (owned by the tree) */
    const char *end;        /* the end of that JSON */
    int pos, stop;          /* 1-based: its first token, its last byte */
    int base;               /* node locations count from this 0-based byte of the input */
    int tree;               /* the parser call it came from: an index into l_pgq.trees */
} l_entry;

/* A parsed script, owned by a userdata: __gc frees it even when a Lua call raises half-way
** (R4). The JSON of every statement stays here until doc:release says the reader is past it;
** Lua decodes one statement at a time, so the linter never holds every tree of a
** 10k-statement file at once, as JSON or as tables. */
typedef struct {
    char *buf;              /* a NUL-terminated copy of the input; NULs poked in per statement */
    size_t len;
    mr_pgq_span *spans;     /* the scanner's statements */
    mr_pgq_span *comments;
    int ncomments;
    mr_pgq_tree **trees;    /* one per parser call; NULL once released */
    int ntrees, cap_trees;
    int nfreed;             /* trees[0, nfreed) are released */
    l_entry *entries;
    int nentries, cap_entries;
    int released;           /* statements 1..released may not be read again */
    mr_pgq_error err;
} l_pgq;

static void drop_trees(l_pgq *s)
{
    for (int i = 0; i < s->ntrees; i++)
        mr_pgq_tree_free(s->trees[i]);
    free(s->trees);
    free(s->entries);
    s->trees = NULL;
    s->entries = NULL;
    s->ntrees = s->cap_trees = s->nentries = s->cap_entries = s->nfreed = s->released = 0;
}

static void pgq_release(l_pgq *s)
{
    drop_trees(s);
    free(s->buf);
    free(s->spans);
    free(s->comments);
    mr_pgq_error_clear(&s->err);
    *s = (l_pgq){.err = {NULL, -1}};
}

/* __gc and __close: never raise */
static int l_pgq_gc(lua_State *L)
{
    pgq_release(luaL_checkudata(L, 1, MR_PGQ_MT));
    return 0;
}

/* ---- JSON (as libpg_query writes it) to Lua ------------------------------------------------
** Objects become tables; a node wrapper {"AlterTableStmt": {...}} becomes the inner table with
** tag = "AlterTableStmt"; a {"String": {"sval": "x"}} node becomes the Lua string "x" (names,
** type names and options are lists of those). Integers stay integers. */

typedef struct {
    lua_State *L;
    const char *p;
    const char *end;
} jdec;

static void jfail(jdec *d, const char *what)
{
    luaL_error(d->L, "pgquery: malformed parser output (%s at byte %d)", what,
               (int)(d->end - d->p));
}

static void ws(jdec *d)
{
    while (d->p < d->end && (*d->p == ' ' || *d->p == '\n' || *d->p == '\t' || *d->p == '\r'))
        d->p++;
}

static void expect(jdec *d, char c)
{
    ws(d);
    if (d->p >= d->end || *d->p != c)
        jfail(d, "unexpected character");
    d->p++;
}

static void put_utf8(luaL_Buffer *b, unsigned long cp)
{
    char u[4];
    int n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    luaL_addlstring(b, u, (size_t)n);
}

static unsigned long hex4(jdec *d)
{
    if (d->end - d->p < 4)
        jfail(d, "short \\u escape");
    unsigned long v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *d->p++;
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned long)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned long)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned long)(c - 'A' + 10);
        else
            jfail(d, "bad \\u escape");
    }
    return v;
}

/* At the opening quote: push the string. */
static void push_jstring(jdec *d)
{
    const char *s = ++d->p;
    const char *q = s;
    while (q < d->end && *q != '"' && *q != '\\')
        q++;
    if (q >= d->end)
        jfail(d, "unterminated string");
    if (*q == '"') {                                  /* the common case: nothing escaped */
        lua_pushlstring(d->L, s, (size_t)(q - s));
        d->p = q + 1;
        return;
    }
    luaL_Buffer b;
    luaL_buffinit(d->L, &b);
    luaL_addlstring(&b, s, (size_t)(q - s));
    d->p = q;
    while (d->p < d->end && *d->p != '"') {
        if (*d->p != '\\') {
            luaL_addchar(&b, *d->p++);
            continue;
        }
        d->p++;
        if (d->p >= d->end)
            jfail(d, "unterminated escape");
        char c = *d->p++;
        switch (c) {
        case 'n': luaL_addchar(&b, '\n'); break;
        case 't': luaL_addchar(&b, '\t'); break;
        case 'r': luaL_addchar(&b, '\r'); break;
        case 'b': luaL_addchar(&b, '\b'); break;
        case 'f': luaL_addchar(&b, '\f'); break;
        case 'u': {
            unsigned long cp = hex4(d);
            if (cp >= 0xD800 && cp < 0xDC00 && d->end - d->p >= 6 && d->p[0] == '\\' &&
                d->p[1] == 'u') {
                d->p += 2;
                unsigned long lo = hex4(d);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            put_utf8(&b, cp);
            break;
        }
        default: luaL_addchar(&b, c); break;            /* \" \\ \/ */
        }
    }
    if (d->p >= d->end)
        jfail(d, "unterminated string");
    d->p++;
    luaL_pushresult(&b);
}

static void push_jnumber(jdec *d)
{
    const char *s = d->p;
    int is_float = 0;
    if (d->p < d->end && *d->p == '-')
        d->p++;
    while (d->p < d->end) {
        char c = *d->p;
        if (c >= '0' && c <= '9')
            d->p++;
        else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')
            is_float = 1, d->p++;
        else
            break;
    }
    if (!is_float && d->p - s < 19) {
        long long v = 0;
        const char *q = s + (*s == '-');
        for (; q < d->p; q++)
            v = v * 10 + (*q - '0');
        lua_pushinteger(d->L, (lua_Integer)(*s == '-' ? -v : v));
        return;
    }
    char tmp[64];
    size_t n = (size_t)(d->p - s);
    if (n >= sizeof tmp)
        jfail(d, "number too long");
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    lua_pushnumber(d->L, (lua_Number)strtod(tmp, NULL));
}


static void push_jvalue(jdec *d, int depth);

/* After an array element: 1 past the closing ']', else 0 past the ',' before the next one. */
static int array_end(jdec *d)
{
    ws(d);
    if (d->p < d->end && *d->p == ']') {
        d->p++;
        return 1;
    }
    expect(d, ',');
    return 0;
}

/* At '"' of a key: push it and consume the colon. */
static void push_jkey(jdec *d)
{
    ws(d);
    if (d->p >= d->end || *d->p != '"')
        jfail(d, "expected a key");
    push_jstring(d);
    expect(d, ':');
}

/* The remaining "key": value pairs of an object, up to '}', onto the stack after the npairs
** already there; then all of them into one table sized for them (and extra more fields),
** which replaces them: a table grown field by field is resized and rehashed on the way. */
static void fill_jobject(jdec *d, int depth, int npairs, int extra)
{
    lua_State *L = d->L;
    for (;;) {
        ws(d);
        if (d->p < d->end && *d->p == '}') {
            d->p++;
            break;
        }
        expect(d, ',');
        luaL_checkstack(L, 4, "pgquery: parse tree too wide");
        push_jkey(d);                            // [pairs.., key]
        push_jvalue(d, depth + 1);               // [pairs.., key, value]
        npairs++;
    }
    int base = lua_gettop(L) - 2 * npairs;       /* the first key is at base + 1 */
    lua_createtable(L, 0, npairs + extra);       // [pairs.., t]
    for (int i = 0; i < npairs; i++) {
        lua_pushvalue(L, base + 1 + 2 * i);
        lua_pushvalue(L, base + 2 + 2 * i);
        lua_rawset(L, -3);
    }
    lua_replace(L, base + 1);                    // [t, pairs from the first value on..]
    lua_settop(L, base + 1);                     // [t]
}

/* At the inner '{' of {"String": {"sval": "x"}}: push "x" (a String node without sval is the
** empty string) and return 1, or return 0 with nothing pushed and nothing consumed when the
** object is anything else. Names are lists of these: no table is made for them. */
static int push_jsval(jdec *d)
{
    const char *save = d->p;
    d->p++;                                      /* '{' */
    ws(d);
    if (d->p < d->end && *d->p == '}') {
        d->p++;
        lua_pushliteral(d->L, "");
        return 1;
    }
    if (d->end - d->p > 6 && memcmp(d->p, "\"sval\"", 6) == 0) {
        d->p += 6;
        ws(d);
        if (d->p < d->end && *d->p == ':') {
            d->p++;
            ws(d);
            if (d->p < d->end && *d->p == '"') {
                push_jstring(d);                 // [sval]
                ws(d);
                if (d->p < d->end && *d->p == '}') {
                    d->p++;
                    return 1;
                }
                lua_pop(d->L, 1);
            }
        }
    }
    d->p = save;
    return 0;
}

/* At '{': push the object as a table with room for extra more fields (a node's tag). */
static void push_jobject(jdec *d, int depth, int extra)
{
    lua_State *L = d->L;
    if (depth > MAX_DEPTH)
        luaL_error(L, "pgquery: parse tree nested deeper than %d", MAX_DEPTH);
    luaL_checkstack(L, 6, "pgquery: parse tree too deep");
    d->p++;                                      /* '{' */
    ws(d);
    if (d->p < d->end && *d->p == '}') {
        d->p++;
        lua_createtable(L, 0, extra);
        return;
    }
    push_jkey(d);                                // [key]
    ws(d);
    size_t kl;
    const char *k = lua_tolstring(L, -1, &kl);
    if (kl > 0 && k[0] >= 'A' && k[0] <= 'Z' && d->p < d->end && *d->p == '{') {
        const char *inner = d->p;
        if (kl == 6 && memcmp(k, "String", 6) == 0 && push_jsval(d)) {   // [key, sval]
            ws(d);
            if (d->p < d->end && *d->p == '}') {
                d->p++;
                lua_remove(L, -2);               // [sval]
                return;
            }
            lua_pop(L, 1);                       /* not a node wrapper: read it as a table */
            d->p = inner;
        }
        push_jobject(d, depth + 1, 1);           // [key, inner]
        ws(d);
        if (d->p < d->end && *d->p == '}') {     /* a node wrapper: unwrap it */
            d->p++;
            if (kl == 6 && memcmp(k, "String", 6) == 0) {
                lua_getfield(L, -1, "sval");     // [key, inner, sval|nil]
                if (lua_isnil(L, -1)) {          /* libpg_query leaves out the empty string */
                    lua_pop(L, 1);
                    lua_pushliteral(L, "");
                }
                lua_replace(L, -3);              // [sval, inner]
                lua_pop(L, 1);                   // [sval]
                return;
            }
            lua_pushvalue(L, -2);                // [key, inner, key]
            lua_setfield(L, -2, "tag");          // [key, inner]
            lua_remove(L, -2);                   // [inner]
            return;
        }
        fill_jobject(d, depth, 1, extra);        // [t]
        return;
    }
    push_jvalue(d, depth + 1);                   // [key, value]
    fill_jobject(d, depth, 1, extra);            // [t]
}

#define ARRAY_BATCH 32

/* At '[': push the array. Up to ARRAY_BATCH elements wait on the stack so that the table is
** made at its size; a longer array grows from there. */
static void push_jarray(jdec *d, int depth)
{
    lua_State *L = d->L;
    if (depth > MAX_DEPTH)
        luaL_error(L, "pgquery: parse tree nested deeper than %d", MAX_DEPTH);
    luaL_checkstack(L, ARRAY_BATCH + 4, "pgquery: parse tree too deep");
    d->p++;                                      /* '[' */
    ws(d);
    if (d->p < d->end && *d->p == ']') {
        d->p++;
        lua_createtable(L, 0, 0);
        return;
    }
    int top = lua_gettop(L);
    int n = 0, done = 0;
    while (!done && n < ARRAY_BATCH) {
        push_jvalue(d, depth + 1);               // [v1 .. vn]
        n++;
        done = array_end(d);
    }
    lua_createtable(L, (int)(done ? n : 2 * n), 0);   // [v1 .. vn, a]
    for (int i = 1; i <= n; i++) {
        lua_pushvalue(L, top + i);
        lua_rawseti(L, -2, i);
    }
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);                      // [a]
    while (!done) {
        push_jvalue(d, depth + 1);               // [a, v]
        lua_rawseti(L, -2, ++n);                 // [a]
        done = array_end(d);
    }
}

static void push_jvalue(jdec *d, int depth)
{
    ws(d);
    if (d->p >= d->end)
        jfail(d, "truncated value");
    switch (*d->p) {
    case '{': push_jobject(d, depth, 0); return;
    case '[': push_jarray(d, depth); return;
    case '"': push_jstring(d); return;
    case 't':
        if (d->end - d->p >= 4 && memcmp(d->p, "true", 4) == 0) {
            d->p += 4;
            lua_pushboolean(d->L, 1);
            return;
        }
        break;
    case 'f':
        if (d->end - d->p >= 5 && memcmp(d->p, "false", 5) == 0) {
            d->p += 5;
            lua_pushboolean(d->L, 0);
            return;
        }
        break;
    case 'n':
        if (d->end - d->p >= 4 && memcmp(d->p, "null", 4) == 0) {
            d->p += 4;
            lua_pushnil(d->L);
            return;
        }
        break;
    default:
        if (*d->p == '-' || (*d->p >= '0' && *d->p <= '9')) {
            push_jnumber(d);
            return;
        }
    }
    jfail(d, "unexpected value");
}

/* ---- stepping over JSON, and indexing a parse, in plain C --------------------------------- */

static const char *cws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
        p++;
    return p;
}

/* At a value: the byte after it, or NULL when the JSON is cut short. Strings (most of the
** bytes: every key is one) are crossed with memchr. */
static const char *cskip(const char *p, const char *e)
{
    int depth = 0;
    p = cws(p, e);
    if (p < e && *p != '"' && *p != '{' && *p != '[') {     /* a scalar */
        while (p < e && *p != ',' && *p != '}' && *p != ']')
            p++;
        return p;
    }
    while (p < e) {
        switch (*p++) {
        case '"':
            for (;;) {
                const char *q = memchr(p, '"', (size_t)(e - p));
                if (q == NULL)
                    return NULL;
                size_t bs = 0;                   /* escaped after an odd run of backslashes */
                while (q - bs > p && q[-1 - (ptrdiff_t)bs] == '\\')
                    bs++;
                p = q + 1;
                if (bs % 2 == 0)
                    break;
            }
            break;
        case '{':
        case '[':
            depth++;
            break;
        case '}':
        case ']':
            depth--;
            break;
        default:
            continue;
        }
        if (depth == 0)
            return p;
    }
    return NULL;
}

/* Step over one value (a statement the linter does not read). */
static void skip_jvalue(jdec *d)
{
    const char *p = cskip(d->p, d->end);
    if (p == NULL)
        jfail(d, "truncated value");
    d->p = p;
}

/* At a statement's node wrapper {"XxxStmt": {...}}: push its table, or only {tag = "XxxStmt"}
** when skip (a table at index skip, or 0) names that tag. */
static void push_jstmt(jdec *d, int skip)
{
    lua_State *L = d->L;
    ws(d);
    if (skip && d->p < d->end && *d->p == '{') {
        const char *save = d->p;
        d->p++;
        push_jkey(d);                            // [tag]
        lua_pushvalue(L, -1);                    // [tag, tag]
        if (lua_rawget(L, skip) != LUA_TNIL) {   // [tag, skip[tag]]
            lua_pop(L, 1);                       // [tag]
            skip_jvalue(d);
            expect(d, '}');
            lua_createtable(L, 0, 1);            // [tag, t]
            lua_insert(L, -2);                   // [t, tag]
            lua_setfield(L, -2, "tag");          // [t]
            return;
        }
        lua_pop(L, 2);                           // []
        d->p = save;
    }
    push_jvalue(d, 0);
}

/* At '"': the key (libpg_query's keys have no escapes) and the byte after its colon. */
static const char *ckey(const char *p, const char *e, const char **k, size_t *kl)
{
    p = cws(p, e);
    if (p >= e || *p != '"')
        return NULL;
    const char *q = memchr(p + 1, '"', (size_t)(e - p - 1));
    if (q == NULL)
        return NULL;
    *k = p + 1;
    *kl = (size_t)(q - p - 1);
    p = cws(q + 1, e);
    return (p < e && *p == ':') ? p + 1 : NULL;
}

static int grow(void **arr, int *cap, int need, size_t size)
{
    if (need <= *cap)
        return 0;
    int n = *cap ? *cap * 2 : 64;
    while (n < need)
        n *= 2;
    void *g = realloc(*arr, (size_t)n * size);
    if (g == NULL)
        return -1;
    *arr = g;
    *cap = n;
    return 0;
}

/* Take t (parsed from bytes [base, base + len) of the input) and record its statements. 0, or
** -1 when memory ran out or the JSON is not libpg_query's (t is owned by s either way). */
static int index_tree(l_pgq *s, mr_pgq_tree *t, size_t base, size_t len)
{
    if (grow((void **)&s->trees, &s->cap_trees, s->ntrees + 1, sizeof *s->trees) < 0) {
        mr_pgq_tree_free(t);
        return -1;
    }
    s->trees[s->ntrees++] = t;
    const char *json = mr_pgq_tree_json(t);
    const char *e = json + strlen(json), *p = cws(json, e), *k;
    size_t kl;
    if (p >= e || *p != '{')
        return -1;
    p++;
    for (;;) {
        if ((p = ckey(p, e, &k, &kl)) == NULL)
            return -1;
        if (!(kl == 5 && memcmp(k, "stmts", 5) == 0)) {
            if ((p = cskip(p, e)) == NULL)
                return -1;
        } else {
            p = cws(p, e);
            if (p >= e || *p != '[')
                return -1;
            p = cws(p + 1, e);
            while (p < e && *p != ']') {
                if (*p != '{')
                    return -1;
                p++;
                const char *node = NULL;
                long loc = 0, slen = 0;
                for (;;) {
                    p = cws(p, e);
                    if (p < e && *p == '}') {
                        p++;
                        break;
                    }
                    if (p < e && *p == ',')
                        p++;
                    if ((p = ckey(p, e, &k, &kl)) == NULL)
                        return -1;
                    p = cws(p, e);
                    if (kl == 4 && memcmp(k, "stmt", 4) == 0)
                        node = p;
                    else if (kl == 13 && memcmp(k, "stmt_location", 13) == 0)
                        loc = strtol(p, NULL, 10);
                    else if (kl == 8 && memcmp(k, "stmt_len", 8) == 0)
                        slen = strtol(p, NULL, 10);
                    if ((p = cskip(p, e)) == NULL)
                        return -1;
                }
                if (node) {
                    size_t from = base + (size_t)loc;
                    size_t to = slen > 0 ? from + (size_t)slen : base + len;
                    if (to > s->len)
                        to = s->len;
                    size_t first = mr_pgq_skip_blank(s->buf, from, to);
                    while (to > first && (s->buf[to - 1] == ' ' || s->buf[to - 1] == '\n' ||
                                          s->buf[to - 1] == '\t' || s->buf[to - 1] == '\r'))
                        to--;
                    if (grow((void **)&s->entries, &s->cap_entries, s->nentries + 1,
                             sizeof *s->entries) < 0)
                        return -1;
                    s->entries[s->nentries++] =
                        (l_entry){node, e, (int)first + 1, (int)to, (int)base, s->ntrees - 1};
                }
                p = cws(p, e);
                if (p < e && *p == ',')
                    p = cws(p + 1, e);
            }
            p++;
        }
        p = cws(p, e);
        if (p < e && *p == ',') {
            p++;
            continue;
        }
        return 0;
    }
}

/* Raise migrun.error{kind = "parse", message, position (1-based byte of the input, when
** known)} from s->err, then release s. */
static int raise_parse(lua_State *L, l_pgq *s, const char *fallback)
{
    mr_l_push_error(L, "parse", s->err.message ? s->err.message : fallback);
    if (s->err.cursor >= 0) {
        lua_pushinteger(L, (lua_Integer)s->err.cursor + 1);
        lua_setfield(L, -2, "position");
    }
    pgq_release(s);
    return lua_error(L);
}

/* Parse [from, to) of s->buf in one parser call and index it; -1 when the parser fails. */
static int parse_range(lua_State *L, l_pgq *s, size_t from, size_t to)
{
    char saved = s->buf[to];
    s->buf[to] = '\0';
    mr_pgq_error_clear(&s->err);
    mr_pgq_tree *t = mr_pgq_parse(s->buf + from, &s->err);
    s->buf[to] = saved;
    if (t == NULL)
        return -1;
    if (index_tree(s, t, from, to - from) < 0)
        luaL_error(L, "pgquery: out of memory");
    return 0;
}

#define CHUNK_STMTS 64
#define CHUNK_BYTES 32768

/* Parse s->buf in runs of the n statements of s->spans (a whole 10k-statement file in one
** parser call is twice as slow: its JSON grows by copying; one call per statement pays the
** parser's setup each time). Strict: 0 when every run parses into as many statements as it
** has spans, else -1 at the first that does not. Otherwise a run that fails is parsed again one
** statement at a time; -1 when one of those fails. */
static int parse_spans(lua_State *L, l_pgq *s, int n, int strict)
{
    for (int i = 0; i < n;) {
        int j = i;
        size_t from = (size_t)s->spans[i].pos, to = from;
        while (j < n && j - i < CHUNK_STMTS) {
            size_t end = (size_t)s->spans[j].pos + (size_t)s->spans[j].len;
            if (j > i && end - from > CHUNK_BYTES)
                break;
            to = end > s->len ? s->len : end;
            j++;
        }
        int mark = s->nentries;
        int failed = parse_range(L, s, from, to) < 0;
        if (strict && (failed || s->nentries - mark != j - i))
            return -1;
        if (failed || (j - i > 1 && s->nentries - mark != j - i)) {
            /* keep the statements before this run; parse its statements one by one */
            s->nentries = mark;
            for (int k = i; k < j; k++) {
                size_t f = (size_t)s->spans[k].pos, t = f + (size_t)s->spans[k].len;
                if (parse_range(L, s, f, t > s->len ? s->len : t) < 0)
                    return -1;
            }
        }
        i = j;
    }
    return 0;
}

/* Parse s->buf. First in runs cut at the semicolons a quick pass finds (mr_pgq_cut): when every
** run parses into as many statements as it was cut into, the cuts were statement boundaries
** and that is the parse. Otherwise (an input the parser rejects, BEGIN ATOMIC bodies, CREATE
** RULE with several actions, a piece without a keyword) all of it again as before: runs of the
** statements PostgreSQL's scanner finds (its split scans the input twice), a run that fails
** one statement at a time, and if one of those fails, the whole input in one call, which either
** succeeds (the scanner split it wrongly) or gives the error and its position. Raises. */
static void parse_all(lua_State *L, l_pgq *s)
{
    int n = mr_pgq_cut(s->buf, s->len, &s->spans);
    if (n < 0)
        luaL_error(L, "pgquery: out of memory");
    if (parse_spans(L, s, n, 1) == 0)
        return;
    drop_trees(s);
    free(s->spans);
    s->spans = NULL;
    mr_pgq_error_clear(&s->err);
    n = mr_pgq_split(s->buf, &s->spans, &s->err);
    if (n >= 0 && parse_spans(L, s, n, 0) == 0)
        return;
    drop_trees(s);
    mr_pgq_error_clear(&s->err);
    mr_pgq_tree *t = mr_pgq_parse(s->buf, &s->err);
    if (t == NULL)
        raise_parse(L, s, "out of memory while parsing");
    if (index_tree(s, t, 0, s->len) < 0)
        luaL_error(L, "pgquery: out of memory");
}

static l_pgq *check_doc(lua_State *L)
{
    l_pgq *s = luaL_checkudata(L, 1, MR_PGQ_MT);
    if (s->buf == NULL)
        luaL_argerror(L, 1, "the parse is closed");
    return s;
}

/* pgquery.open(sql) -> doc: the script parsed by PostgreSQL's parser, its trees kept as
** libpg_query's JSON until asked for. Raises migrun.error{kind = "parse", message, position}. */
static int l_pgquery_open(lua_State *L)
{
    size_t len;
    const char *sql = luaL_checklstring(L, 1, &len);
    if (memchr(sql, '\0', len))
        return mr_l_raise(L, "parse", "the SQL text contains a NUL byte");
    l_pgq *s = lua_newuserdatauv(L, sizeof *s, 0);   // [sql, doc]
    *s = (l_pgq){.err = {NULL, -1}};
    luaL_setmetatable(L, MR_PGQ_MT);                 /* __gc armed before any malloc */
    s->buf = malloc(len + 1);
    if (s->buf == NULL)
        return luaL_error(L, "pgquery: out of memory");
    memcpy(s->buf, sql, len + 1);
    s->len = len;
    parse_all(L, s);
    s->ncomments = mr_pgq_comments(s->buf, len, &s->comments);
    if (s->ncomments < 0)
        return luaL_error(L, "pgquery: out of memory");
    return 1;
}

/* doc:count() -> the number of statements */
static int l_doc_count(lua_State *L)
{
    lua_pushinteger(L, check_doc(L)->nentries);
    return 1;
}

static l_entry *check_entry(lua_State *L, l_pgq *s)
{
    lua_Integer i = luaL_checkinteger(L, 2);
    luaL_argcheck(L, i >= 1 && i <= s->nentries, 2, "no such statement");
    luaL_argcheck(L, i > s->released, 2, "the statement was released");
    return &s->entries[i - 1];
}

/* doc:info(i) -> tag, pos, stop: statement i's node name and span, without decoding it */
static int l_doc_info(lua_State *L)
{
    l_entry *e = check_entry(L, check_doc(L));
    const char *k = NULL;
    size_t kl = 0;
    const char *p = cws(e->json, e->end);
    if (p < e->end && *p == '{' && ckey(p + 1, e->end, &k, &kl))
        lua_pushlstring(L, k, kl);
    else
        lua_pushnil(L);
    lua_pushinteger(L, e->pos);
    lua_pushinteger(L, e->stop);
    return 3;
}

/* doc:stmt(i [, skip]) -> {tree = node, pos, stop, base}: statement i decoded (a new table
** each call). pos: byte of its first token, stop: its last byte (1-based); a node's location
** L is byte base + L + 1. skip = {Tag = true}: such statements come back as {tag = Tag}. */
static int l_doc_stmt(lua_State *L)
{
    l_pgq *s = check_doc(L);
    l_entry *e = check_entry(L, s);
    int skip = lua_istable(L, 3) ? 3 : 0;
    lua_createtable(L, 0, 12);                       // [.., entry] (the linter adds 7 fields)
    jdec d = {L, e->json, e->end};
    push_jstmt(&d, skip);                            // [.., entry, tree]
    lua_setfield(L, -2, "tree");
    lua_pushinteger(L, e->pos);
    lua_setfield(L, -2, "pos");
    lua_pushinteger(L, e->stop);
    lua_setfield(L, -2, "stop");
    lua_pushinteger(L, e->base);
    lua_setfield(L, -2, "base");
    return 1;
}

/* doc:release(i): statements 1..i will not be read again (info and stmt raise for them); the
** JSON of every parser call holding only such statements is freed. A reader that goes
** forward releases as it goes, and a long script's parse shrinks while it is linted. */
static int l_doc_release(lua_State *L)
{
    l_pgq *s = check_doc(L);
    lua_Integer i = luaL_checkinteger(L, 2);
    luaL_argcheck(L, i >= 0 && i <= s->nentries, 2, "no such statement");
    if (i <= s->released)
        return 0;
    s->released = (int)i;
    /* entries go with trees in order: every tree before the next statement's is done */
    int upto = i < s->nentries ? s->entries[i].tree : s->ntrees;
    for (; s->nfreed < upto; s->nfreed++) {
        mr_pgq_tree_free(s->trees[s->nfreed]);
        s->trees[s->nfreed] = NULL;
    }
    return 0;
}

/* doc:comments() -> {{pos, stop}, ...}: every comment (1-based bytes), in order */
static int l_doc_comments(lua_State *L)
{
    l_pgq *s = check_doc(L);
    lua_createtable(L, s->ncomments, 0);
    for (int i = 0; i < s->ncomments; i++) {
        lua_createtable(L, 0, 2);
        lua_pushinteger(L, (lua_Integer)s->comments[i].pos + 1);
        lua_setfield(L, -2, "pos");
        lua_pushinteger(L, (lua_Integer)s->comments[i].pos + s->comments[i].len);
        lua_setfield(L, -2, "stop");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* pgquery.parse(sql [, skip]) -> stmts, comments: open(sql), every statement decoded, and
** its comments; for tests and small inputs. Raises as open does. */
static int l_pgquery_parse(lua_State *L)
{
    lua_settop(L, 2);
    lua_pushcfunction(L, l_pgquery_open);            // [sql, skip, open]
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);                               // [sql, skip, doc]
    l_pgq *s = lua_touserdata(L, 3);
    lua_createtable(L, s->nentries, 0);              // [sql, skip, doc, stmts]
    for (int i = 1; i <= s->nentries; i++) {
        lua_pushcfunction(L, l_doc_stmt);
        lua_pushvalue(L, 3);
        lua_pushinteger(L, i);
        lua_pushvalue(L, 2);
        lua_call(L, 3, 1);                           // [.., stmts, entry]
        lua_rawseti(L, 4, i);
    }
    lua_pushcfunction(L, l_doc_comments);
    lua_pushvalue(L, 3);
    lua_call(L, 1, 1);                               // [sql, skip, doc, stmts, comments]
    pgq_release(s);
    return 2;
}

/* A sentinel whose __gc runs at lua_close: frees libpg_query's per-thread memory context. */
static int l_pgquery_exit(lua_State *L)
{
    (void)L;
    mr_pgq_exit();
    return 0;
}

static const luaL_Reg doc_meta[] = {
    {"__index", NULL}, {"__gc", l_pgq_gc}, {"__close", l_pgq_gc}, {NULL, NULL}};

static const luaL_Reg doc_methods[] = {
    {"count", l_doc_count}, {"info", l_doc_info}, {"stmt", l_doc_stmt},
    {"comments", l_doc_comments}, {"release", l_doc_release}, {"close", l_pgq_gc},
    {NULL, NULL}};

static const luaL_Reg pgq_funcs[] = {
    {"open", l_pgquery_open}, {"parse", l_pgquery_parse}, {NULL, NULL}};

int luaopen_migrun_core_pgquery(lua_State *L)
{
    luaL_newmetatable(L, MR_PGQ_MT);                 // [mt]
    luaL_setfuncs(L, doc_meta, 0);
    luaL_newlib(L, doc_methods);                     // [mt, methods]
    lua_setfield(L, -2, "__index");                  // [mt]
    lua_pop(L, 1);                                   // []
    luaL_newlib(L, pgq_funcs);                       // [M]
    lua_pushinteger(L, 150001);
    lua_setfield(L, -2, "grammar");                  /* the PostgreSQL grammar libpg_query has */
    /* one sentinel per state, made once: the module may be loaded again (busted unloads
    ** packages between spec files), and its __gc must not run while parsing goes on */
    if (lua_getfield(L, LUA_REGISTRYINDEX, "migrun.pgquery.exit") == LUA_TNIL) {
        lua_newuserdatauv(L, 1, 0);                  // [M, nil, sentinel]
        lua_createtable(L, 0, 1);                    // [M, nil, sentinel, smt]
        lua_pushcfunction(L, l_pgquery_exit);
        lua_setfield(L, -2, "__gc");
        lua_setmetatable(L, -2);                     // [M, nil, sentinel]
        lua_setfield(L, LUA_REGISTRYINDEX, "migrun.pgquery.exit");   // [M, nil]
    }
    lua_pop(L, 1);                                   // [M]
    return 1;
}
